"""The pod compiler of the docker target, one module per concern of a pod template (pure: no I/O, no docker).

:mod:`devloop.targets.docker.pods` puts them together into a :class:`~.plans.PodPlan`:
``plans`` (the plan types), ``fields`` (which fields are supported, ignored or warned about), ``refs``
(ConfigMap/Secret data), ``env``, ``security``, ``limits``, ``mounts`` (volumes, mounts, files),
``container`` (one container: command, ports, readiness probe and the parts above), ``services`` (network
aliases and port warnings) and ``workload`` (replicas, restart policy, Job fields, grace period).
"""
