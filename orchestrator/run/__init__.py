"""Running a plan: :mod:`.scheduler` (the resumable run loop, with public hooks a search
extends), :mod:`.tracking` (the MLflow layout of ``docs/contracts.md``), :mod:`.launching`
(executor and MLflow store for a run) and the actions of the CLI by role: :mod:`.commands`
(shared), :mod:`.plan_command`, :mod:`.run_command`, :mod:`.queue_commands`.
"""
