"""From a study file to a plan (no job runs here).

:mod:`.reader` reads and validates the YAML (:class:`Study`, profiles, axes, levels; by
role in :mod:`.loading`, :mod:`.validate`, :mod:`.profiles`, :mod:`.fields`, :mod:`.model`)
and :mod:`.expand` gives its combinations; :mod:`.configs` loads base configs and applies
patches; :mod:`.data` binds a config to a data set and hashes its annotation files;
:mod:`.identity` says what makes two jobs the same job; :mod:`.plan` puts it together into a
:class:`Plan` (resolved configs, ids, build checks). :mod:`.errors` holds the file/line/key
problems.
"""
