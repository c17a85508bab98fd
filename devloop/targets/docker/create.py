"""Creating a pod on the engine from its :class:`~.pods.PodPlan`.

A pod is a sandbox container (the pause image, owning the network namespace and the Service
aliases) plus its init and app containers joined with ``network_mode=container:<sandbox>``. The
sandbox is started at once (the containers' ``status.podIP`` needs its address), except for a Job's
pods beyond its parallelism; the containers are only created: the supervisor (:mod:`.runtime`)
starts them in order. Containers are created with docker restart policy "no" (devloop restarts them,
:mod:`.restarts`), and with the labels (:mod:`.labels`) that find them again after any restart.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Callable, Mapping
from typing import Any

from devloop.config.podtemplate import JOB_KINDS
from devloop.dockerengine import engine_call, is_connection_error
from devloop.errors import DeployError
from devloop.targets.docker import labels as L
from devloop.targets.docker.pods import ContainerPlan, FieldRef, MountPlan, PodPlan

Volumes = dict[tuple[str, str], str]  # (kind, name in the pod spec) -> docker volume name


def pod_labels(plan: PodPlan, index: int, labels: Mapping[str, str]) -> dict[str, str]:
    """The labels every container of the pod carries."""
    return {
        **labels,
        L.POD: plan.pod_name(index),
        L.POD_INDEX: str(index),
        L.SPEC_HASH: plan.spec_hash,
        L.KIND: plan.kind,
        L.RESTART_POLICY: plan.restart_policy,
        L.GRACE: str(plan.grace),
    }


def sandbox_labels(plan: PodPlan, common: Mapping[str, str]) -> dict[str, str]:
    return {
        **common,
        L.ROLE: L.ROLE_SANDBOX,
        L.BACKOFF_LIMIT: str(plan.backoff_limit),
        L.PARALLELISM: str(plan.parallelism),
    }


def container_labels(c: ContainerPlan, common: Mapping[str, str]) -> dict[str, str]:
    lab = {
        **common,
        L.ROLE: c.role,
        L.CONTAINER: c.name,
        L.ORDER: str(c.order),
        L.PORTS: json.dumps({n: p for n, p in c.ports if n}),
    }
    if c.probe and c.role == L.ROLE_APP:
        lab[L.PROBE] = json.dumps(c.probe, sort_keys=True)
    if c.user:
        lab[L.RUN_AS] = c.user
    return lab


def downward_fields(pod: str, namespace: str, ip: str) -> dict[str, str]:
    """The ``fieldRef`` values a pod on one engine has."""
    return {
        "metadata.name": pod,
        "metadata.namespace": namespace,
        "status.podIP": ip,
        "spec.nodeName": "docker-desktop",
        "status.hostIP": ip,
        "spec.serviceAccountName": "default",
    }


def container_env(c: ContainerPlan, fields: Mapping[str, str]) -> list[str]:
    """``NAME=value`` of the container, ``fieldRef`` values taken from ``fields``."""
    return [f"{k}={fields.get(v.path, '') if isinstance(v, FieldRef) else v}" for k, v in c.env]


def container_mounts(c: ContainerPlan, volume_of: Callable[[MountPlan], str]) -> list[Any]:
    """The container's mounts: hostPath binds, and the docker volumes ``volume_of`` names for the others."""
    import docker.types

    return [
        docker.types.Mount(m.target, m.source, type="bind", read_only=m.read_only)
        if m.kind == "hostPath"
        else docker.types.Mount(m.target, volume_of(m), type="volume", read_only=m.read_only)
        for m in c.mounts
    ]


def container_host_config(api: Any, c: ContainerPlan, sandbox: str, mounts: list[Any]) -> Any:
    """The host config of a container that joins its pod's sandbox, with its limits and privileges."""
    return api.create_host_config(
        network_mode=f"container:{sandbox}",
        mounts=mounts or None,
        mem_limit=c.mem_limit,
        nano_cpus=c.nano_cpus,
        privileged=c.privileged,
        read_only=c.read_only,
        cap_add=list(c.cap_add) or None,
        cap_drop=list(c.cap_drop) or None,
    )


def files_tar(c: ContainerPlan) -> bytes:
    """The container's projected files (ConfigMap, Secret and downward API volumes) as one archive."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for f in c.files:
            info = tarfile.TarInfo(f.path.lstrip("/"))
            info.size = len(f.data)
            info.mode = f.mode
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(f.data))
    return buf.getvalue()


class PodCreator:
    """Creates the pods of one project on its network."""

    def __init__(self, api: Any, project: str, network: str) -> None:
        self.api = api
        self.project = project
        self.network = network

    def create(self, plan: PodPlan, index: int, pause_image: str, labels: dict[str, str]) -> None:
        """Create the pod's sandbox (started, unless a Job holds it back), volumes and containers."""
        pod = plan.pod_name(index)
        common = pod_labels(plan, index, labels)
        api = self.api
        aliases = list(plan.pod_aliases(index))
        with engine_call(f"creating pod {pod} of resource {plan.resource}"):
            sandbox = self.create_or_replace(
                pause_image,
                L.docker_name(self.project, pod),
                hostname=pod[:63].rstrip("-.") or "pod",
                labels=sandbox_labels(plan, common),
                host_config=api.create_host_config(network_mode=self.network),
                networking_config=api.create_networking_config(
                    {self.network: api.create_endpoint_config(aliases=aliases or None)}
                ),
            )
            ip = ""
            if plan.kind not in JOB_KINDS or index < plan.parallelism:
                api.start(sandbox)
                nets = (api.inspect_container(sandbox).get("NetworkSettings") or {}).get("Networks") or {}
                ip = str((nets.get(self.network) or {}).get("IPAddress") or "")
            volumes = self.volumes(plan, pod, labels)
            for c in plan.containers:
                self.container(plan, c, pod, sandbox, ip, volumes, common)

    def create_or_replace(self, image: str, name: str, **kwargs: Any) -> str:
        """Create a container; one left with the same name (an interrupted earlier run) is replaced."""
        import docker.errors

        try:
            return str(self.api.create_container(image, name=name, **kwargs)["Id"])
        except docker.errors.APIError as exc:
            if getattr(exc, "status_code", None) != 409:
                raise
        self.api.remove_container(name, force=True, v=True)
        return str(self.api.create_container(image, name=name, **kwargs)["Id"])

    def volumes(self, plan: PodPlan, pod: str, labels: dict[str, str]) -> Volumes:
        """Create the pod's emptyDir and claim volumes."""
        out: Volumes = {}
        for name, tmpfs in plan.emptydirs:
            vol = L.docker_name(self.project, pod, plan.spec_hash[:6], name)
            opts = {"type": "tmpfs", "device": "tmpfs"} if tmpfs else None
            self.api.create_volume(vol, driver_opts=opts, labels={**labels, L.POD: pod, L.VOLUME_KIND: "emptyDir"})
            out[("emptyDir", name)] = vol
        claims = [("pvc", c, c) for c in plan.claims] + [
            ("claimTemplate", c, f"{c}-{pod}") for c in plan.claim_templates
        ]
        for kind, name, claim in claims:
            vol = L.docker_name(self.project, "pvc", claim)
            self.api.create_volume(vol, labels={**L.base_labels(self.project), L.VOLUME_KIND: "pvc"})
            out[(kind, name)] = vol
        return out

    def container(
        self,
        plan: PodPlan,
        c: ContainerPlan,
        pod: str,
        sandbox: str,
        ip: str,
        volumes: Volumes,
        common: dict[str, str],
    ) -> str:
        mounts = container_mounts(c, lambda m: volumes.get((m.kind, m.source), ""))
        host_config = container_host_config(self.api, c, sandbox, mounts)
        self.ensure_image(c.image, plan, c)
        cid = self.create_or_replace(
            c.image,
            L.docker_name(self.project, pod, c.name),
            entrypoint=list(c.entrypoint) if c.entrypoint is not None else None,
            command=list(c.command) if c.command is not None else None,
            environment=container_env(c, downward_fields(pod, plan.namespace, ip)),
            working_dir=c.working_dir,
            user=c.user,
            labels=container_labels(c, common),
            host_config=host_config,
        )
        if c.files:
            self.api.put_archive(cid, "/", files_tar(c))
        return cid

    def ensure_image(self, image: str, plan: PodPlan, c: ContainerPlan) -> None:
        """The image is on the engine, or pulled; a DeployError naming it otherwise."""
        import docker.errors

        try:
            self.api.inspect_image(image)
            return
        except docker.errors.ImageNotFound:
            pass
        try:
            self.api.pull(image)
        except docker.errors.APIError as exc:
            if is_connection_error(exc):
                raise
            raise DeployError(
                f"resource {plan.resource}: image {image} of container {c.name} is not on the Docker engine "
                f"and could not be pulled ({getattr(exc, 'explanation', None) or exc}); build it, or fix the "
                "image name in the manifest."
            ) from exc
