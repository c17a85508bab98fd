"""The workload-level fields of a plan: replicas, restart policy, a Job's completions, parallelism and
back-off limit, and the grace period between SIGTERM and SIGKILL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devloop.config.model import ManifestObject
from devloop.config.podtemplate import JOB_KINDS, REPLICATED_KINDS, job_spec, wanted_replicas
from devloop.targets.docker.podspec.plans import Warnings

DEFAULT_GRACE = 2.0  # seconds; terminationGracePeriodSeconds when the manifest does not say


@dataclass(frozen=True)
class WorkloadRun:
    replicas: int = 1
    restart_policy: str = "Always"
    completions: int = 1
    parallelism: int = 1
    backoff_limit: int = 6


def job_run(workload: ManifestObject, restart_policy: str) -> WorkloadRun:
    """A Job's (or CronJob's job's) pods: every completion, at most ``parallelism`` at once; a pod of a Job
    is never restarted in place unless its policy says OnFailure."""
    job = job_spec(workload)
    completions = int(job.get("completions") or 1)
    backoff = job.get("backoffLimit")
    return WorkloadRun(
        replicas=completions,
        restart_policy="OnFailure" if restart_policy == "Always" else restart_policy,
        completions=completions,
        parallelism=max(1, min(int(job.get("parallelism") or 1), completions)),
        backoff_limit=int(backoff) if backoff is not None else 6,
    )


def workload_run(workload: ManifestObject, spec: Mapping[str, Any], warn: Warnings) -> WorkloadRun:
    """How the pods of ``workload`` (pod spec ``spec``) run; a CronJob's schedule is warned about."""
    kind = workload.kind
    restart_policy = str(spec.get("restartPolicy") or ("Never" if kind in JOB_KINDS else "Always"))
    if kind in REPLICATED_KINDS:
        return WorkloadRun(replicas=wanted_replicas(workload), restart_policy="Always")
    if kind not in JOB_KINDS:
        return WorkloadRun(restart_policy=restart_policy)
    if kind == "CronJob":
        schedule = (workload.body.get("spec") or {}).get("schedule", "")
        warn.other.append(
            f'CronJob {workload.name}: the schedule "{schedule}" is not honoured on the docker target; '
            "its job runs once each time the CronJob is deployed or changed."
        )
    return job_run(workload, restart_policy)


def grace_period(spec: Mapping[str, Any]) -> float:
    """``terminationGracePeriodSeconds`` (:data:`DEFAULT_GRACE` when unset), never negative."""
    value = spec.get("terminationGracePeriodSeconds")
    return max(0.0, float(value if value is not None else DEFAULT_GRACE))
