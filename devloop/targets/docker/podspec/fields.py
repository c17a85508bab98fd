"""Which fields of a pod template the docker target supports, and which it ignores without a warning
(those that have no meaning on a single docker engine). Every other field is named in the plan's warning."""

from __future__ import annotations

#: Pod spec fields that have no meaning on a single docker engine and are ignored without a warning.
IGNORED_POD_FIELDS = frozenset(
    {
        "serviceAccountName",
        "serviceAccount",
        "automountServiceAccountToken",
        "imagePullSecrets",
        "nodeSelector",
        "nodeName",
        "affinity",
        "tolerations",
        "priorityClassName",
        "priority",
        "schedulerName",
        "topologySpreadConstraints",
        "enableServiceLinks",
        "preemptionPolicy",
        "runtimeClassName",
        "dnsPolicy",
        "setHostnameAsFQDN",
        "overhead",
        "readinessGates",
    }
)
SUPPORTED_POD_FIELDS = frozenset(
    {
        "containers",
        "initContainers",
        "volumes",
        "restartPolicy",
        "securityContext",
        "terminationGracePeriodSeconds",
        "hostname",
        "subdomain",
    }
)
IGNORED_CONTAINER_FIELDS = frozenset(
    {
        "imagePullPolicy",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "stdin",
        "stdinOnce",
        "tty",
    }
)
SUPPORTED_CONTAINER_FIELDS = frozenset(
    {
        "name",
        "image",
        "command",
        "args",
        "workingDir",
        "ports",
        "env",
        "envFrom",
        "volumeMounts",
        "readinessProbe",
        "securityContext",
        "resources",
    }
)
SUPPORTED_SECURITY_FIELDS = frozenset(
    {
        "runAsUser",
        "runAsGroup",
        "runAsNonRoot",
        "privileged",
        "readOnlyRootFilesystem",
        "capabilities",
        "allowPrivilegeEscalation",
    }
)
SUPPORTED_MOUNT_FIELDS = frozenset({"name", "mountPath", "readOnly", "subPath"})
SUPPORTED_LIMITS = frozenset({"memory", "cpu"})
SUPPORTED_PROBE_HANDLERS = ("httpGet", "tcpSocket", "exec")
#: ``valueFrom.fieldRef.fieldPath`` values known when a pod is created.
SUPPORTED_FIELD_PATHS = frozenset(
    {
        "metadata.name",
        "metadata.namespace",
        "status.podIP",
        "spec.nodeName",
        "status.hostIP",
        "spec.serviceAccountName",
    }
)

KNOWN_POD_FIELDS = SUPPORTED_POD_FIELDS | IGNORED_POD_FIELDS
KNOWN_CONTAINER_FIELDS = SUPPORTED_CONTAINER_FIELDS | IGNORED_CONTAINER_FIELDS
