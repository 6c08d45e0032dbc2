"""The job process (:mod:`.worker`), its default runner (:mod:`.train`, an mmengine
training) and the mmengine components it adds to every config (:mod:`.mmengine_plugins`).

Nothing here is imported by the driver except the file names of the job protocol.
"""
