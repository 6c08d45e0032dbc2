"""Search studies (``kind: search``): an Optuna study whose trials are orchestrator jobs.

The driver is the ordinary run loop (:class:`orchestrator.run.scheduler.Scheduler`) with
three additions (:class:`~orchestrator.search.scheduler.SearchScheduler`): while the
executor has room it *asks* Optuna for a trial (ask-and-tell with RDB storage), turns the
trial's parameters into a job (the study's base config + profile patch + the parameters'
config keys + profile override, with
:class:`~orchestrator.search.pruning_hook.OptunaPruningHook`) and enqueues it; when a job
ends it *tells* Optuna the objective (``test/<metric>`` of the job), or that the trial was
pruned (the job returned ``trial/pruned_step``) or failed (the job failed after its
retries). Trials therefore run through the same queue, executors, job process and MLflow
layout as ablation jobs: one child run per trial under one parent run per search, with
tags ``cm.trial``, ``cm.trial_state`` and params ``trial.<name>``.

Never a lost or repeated trial: each trial records its owner (host and queue) and its job
id as user attributes as soon as it exists, and a job id is unique to its trial. On start
the driver reconciles the trials it owns that Optuna still has as RUNNING: finished or
failed jobs are told, queued or interrupted ones are resumed (from their checkpoints), and
a trial whose job was never enqueued gets it now. Several machines may share one study
(``search.storage`` = a PostgreSQL URL): each runs its own trials; the ``n_trials``
budget counts the trials of all of them.

At the end (and with ``orchestrator trials STUDY``) the best trial's resolved config is
written as a ready-to-use config file, and a report (trials, best, parameter importances
by Optuna's default evaluator) goes to the terminal, the search folder
``<workspace>/searches/<study>/<profile>/`` and the parent MLflow run. User guide:
``docs/search.md``.

Modules, driver side: :mod:`.space` (the ``search:`` section, samplers, pruners),
:mod:`.planner` (validation, trial configs and jobs), :mod:`.scheduler` (the run loop that
asks and tells Optuna), :mod:`.tracking` (MLflow parent and trial runs), :mod:`.report`
(best trial, importances) and :mod:`.commands`. Job side: :mod:`.job` (the trial runner),
:mod:`.trial` (the trial a job process belongs to) and :mod:`.pruning_hook` (the mmengine
hook that reports validations).
"""
