"""Every label and annotation key devloop writes (pure constants; docs/configuration.md, docs/targets.md).

What devloop deploys carries ``app.kubernetes.io/managed-by=devloop``, ``devloop.dev/project`` and
``devloop.dev/resource`` on every target; the rest is written by one part each: the kubernetes target (namespaces
it created, the applied hash, wrapped containers), image builds (images carry a set of their own, see
:mod:`devloop.build.images`) and the docker target (its containers, networks and volumes, see
:mod:`devloop.targets.docker.labels`).
"""

from __future__ import annotations

# --- everything devloop deploys -------------------------------------------------------------------------
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "devloop"
PROJECT = "devloop.dev/project"
RESOURCE = "devloop.dev/resource"

# --- the kubernetes target ------------------------------------------------------------------------------
CREATED_BY = "devloop.dev/created-by"  # label (value MANAGED_BY_VALUE) of the namespaces devloop created
APPLIED_HASH = "devloop.dev/applied-hash"  # annotation: the hash of what devloop last applied
SUPERVISED = "devloop.dev/supervised"  # pod template annotation: the containers run under the restart supervisor

# --- images devloop builds ------------------------------------------------------------------------------
BUILT_BY = "devloop.dev/built-by"
BUILT_FOR = "devloop.dev/built-for"
OLD_PROJECT = PROJECT  # what images built by earlier versions carried (the label of deployed objects)

# --- the docker target's containers, networks and volumes -----------------------------------------------
POD = "devloop.dev/pod"  # pod name, e.g. web-3f2a1c-0
POD_INDEX = "devloop.dev/pod-index"
SPEC_HASH = "devloop.dev/spec-hash"
ROLE = "devloop.dev/role"  # sandbox | init | app
CONTAINER = "devloop.dev/container"  # the container's name in the pod template
ORDER = "devloop.dev/order"  # position of an init/app container in the template
KIND = "devloop.dev/workload-kind"
RESTART_POLICY = "devloop.dev/restart-policy"
PROBE = "devloop.dev/readiness-probe"  # JSON of the readinessProbe
PORTS = "devloop.dev/ports"  # JSON {name: number} of the container's ports
GRACE = "devloop.dev/grace"  # seconds between SIGTERM and SIGKILL
BACKOFF_LIMIT = "devloop.dev/backoff-limit"
PARALLELISM = "devloop.dev/parallelism"
RUN_AS = "devloop.dev/run-as"  # uid[:gid] from securityContext
VOLUME_KIND = "devloop.dev/volume"  # emptyDir | pvc
