"""The double's controllers: Deployment -> ReplicaSet -> Pods, StatefulSet, DaemonSet, Job, garbage collection
and namespace termination.

One thread reconciles every workload after each store change (and every half second). Pods carry
``ownerReferences`` to their controller; a Deployment's ReplicaSets carry the ``pod-template-hash`` label and
the ``deployment.kubernetes.io/revision`` annotation. A changed template makes a new ReplicaSet; the old ones
are scaled to 0 once the new one is ready (or at once when they have no ready pod). Job pods run until
``completions`` succeeded or more than ``backoffLimit`` failed (conditions Complete / Failed).
"""

from __future__ import annotations

import contextlib
import copy
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

from tests.kube_double.apply import template_hash
from tests.kube_double.store import BY_KIND, ApiError, Event, Obj, now_rfc3339

if TYPE_CHECKING:
    from tests.kube_double.server import KubeDouble

_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
PODS = BY_KIND["Pod"]
RS = BY_KIND["ReplicaSet"]
PVC = BY_KIND["PersistentVolumeClaim"]
JOB_BACKOFF = 10.0  # the Job controller's first back-off after a failed pod
CR = BY_KIND["ControllerRevision"]


def suffix(n: int = 5) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def owner_ref(obj: Obj) -> Obj:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: Obj, uid: str) -> bool:
    return any(r.get("uid") == uid and r.get("controller") for r in obj["metadata"].get("ownerReferences") or [])


def terminating(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def pod_ready(pod: Obj) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds) and not terminating(pod)


def pod_phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def set_condition(
    conds: list[Obj], ctype: str, status: str, reason: str, message: str, *, update_time: bool = False
) -> list[Obj]:
    """Set one condition keeping its times when nothing about it changed (so status writes stay no-ops)."""
    now = now_rfc3339()
    old = next((c for c in conds if c.get("type") == ctype), None)
    new: Obj = {"type": ctype, "status": status, "reason": reason, "message": message}
    if old is not None and old.get("status") == status:
        new["lastTransitionTime"] = old.get("lastTransitionTime", now)
    else:
        new["lastTransitionTime"] = now
    if update_time:
        same = old is not None and all(old.get(k) == new[k] for k in ("status", "reason", "message"))
        new["lastUpdateTime"] = old.get("lastUpdateTime", now) if same and old is not None else now
    return [*(c for c in conds if c.get("type") != ctype), new]


class Controllers:
    def __init__(self, double: KubeDouble) -> None:
        self.double = double
        self.store = double.store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error = ""
        self._failures: dict[str, tuple[int, float]] = {}  # Job uid -> (failed pods, when first seen)
        self.store.listeners.append(self._on_event)

    def _on_event(self, event: Event) -> None:
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name=f"kube-double-controllers-{self.double.id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                self.reconcile()
                self.last_error = ""
            except Exception as exc:  # keep going; the error is visible for debugging
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self.double.verbose:
                    import traceback

                    traceback.print_exc()

    # --- one pass ----------------------------------------------------------------------------------

    def reconcile(self) -> None:
        objects = self.store.all_objects()
        uids = {o["metadata"]["uid"] for _, o in objects}
        by_kind: dict[str, list[Obj]] = {}
        for rtype, obj in objects:
            by_kind.setdefault(rtype.kind, []).append(obj)
        # garbage collection: dependents whose controller is gone; deleted objects whose finalizers were removed
        for rtype, obj in objects:
            meta = obj["metadata"]
            if rtype.kind not in ("Pod", "Namespace") and meta.get("deletionTimestamp") and not meta.get("finalizers"):
                self._delete(rtype.kind, obj, "Background")
                continue
            refs = obj["metadata"].get("ownerReferences") or []
            if refs and not any(r.get("uid") in uids for r in refs):
                self._delete(rtype.kind, obj, "Background")
        pods = [p for p in by_kind.get("Pod", [])]
        for d in by_kind.get("Deployment", []):
            self._guard(self.deployment, d, by_kind.get("ReplicaSet", []))
        for rs in by_kind.get("ReplicaSet", []):
            self._guard(self.replicaset, rs, pods)
        for sts in by_kind.get("StatefulSet", []):
            self._guard(self.statefulset, sts, pods)
        for ds in by_kind.get("DaemonSet", []):
            self._guard(self.daemonset, ds, pods)
        for job in by_kind.get("Job", []):
            self._guard(self.job, job, pods)
        for ns in by_kind.get("Namespace", []):
            if terminating(ns):
                name = ns["metadata"]["name"]
                if not any(r.namespaced and o["metadata"].get("namespace") == name for r, o in objects):
                    self.store.remove(BY_KIND["Namespace"], "", name)

    def _guard(self, fn: Any, obj: Obj, related: list[Obj]) -> None:
        if terminating(obj):
            return
        try:
            fn(obj, related)
        except ApiError as err:
            if err.code not in (404, 409):  # gone or raced: the next pass sees the new state
                raise

    def _delete(self, kind: str, obj: Obj, policy: str = "Background") -> None:
        with contextlib.suppress(ApiError):
            self.double.delete(BY_KIND[kind], obj["metadata"].get("namespace", ""), obj["metadata"]["name"], policy)

    def _status(self, obj: Obj, status: Obj) -> None:
        kind = obj["kind"]

        def write(o: Obj) -> None:
            o["status"] = status

        if (obj.get("status") or {}) != status:
            self.store.mutate(BY_KIND[kind], obj["metadata"]["namespace"], obj["metadata"]["name"], write, status=True)

    def _backed_off(self, uid: str, failures: int) -> bool:
        """Whether a Job with ``failures`` failed pods has waited its back-off (10 s doubling, at most 360 s)
        since the controller first saw that many failures (the loop passes every half second)."""
        seen = self._failures.get(uid)
        if seen is None or seen[0] != failures:
            self._failures[uid] = (failures, time.monotonic())
            return False
        return time.monotonic() - seen[1] >= min(JOB_BACKOFF * 2 ** (failures - 1), 360.0)

    def _create_or_record(self, owner: Obj, template: Obj, name: str, labels: dict[str, str] | None = None) -> str:
        """Create a pod for ``owner``; when the API refuses it (admission: a missing ServiceAccount, quota,
        PodSecurity), record the Warning event FailedCreate on the owner ("Error creating: ...") and return the
        API's message (what a ReplicaSet's ReplicaFailure condition says)."""
        try:
            self._new_pod(owner, template, name, labels)
        except ApiError as err:
            if err.code in (403, 422):
                self.double.record_event(
                    owner,
                    "Warning",
                    "FailedCreate",
                    f"Error creating: {err.message}",
                    f"{owner['kind'].lower()}-controller",
                )
                return err.message
            raise
        return ""

    def _new_pod(
        self,
        owner: Obj,
        template: Obj,
        name: str,
        labels: dict[str, str] | None = None,
        spec_changes: Obj | None = None,
    ) -> None:
        meta = copy.deepcopy(template.get("metadata") or {})
        meta["name"] = name
        meta["labels"] = {**(meta.get("labels") or {}), **(labels or {})}
        meta["ownerReferences"] = [owner_ref(owner)]
        spec = copy.deepcopy(template.get("spec") or {})
        spec.update(spec_changes or {})
        self.double.create(PODS, owner["metadata"]["namespace"], {"metadata": meta, "spec": spec})

    # --- Deployment --------------------------------------------------------------------------------

    def deployment(self, d: Obj, replicasets: list[Obj]) -> None:
        ns = d["metadata"]["namespace"]
        uid = d["metadata"]["uid"]
        spec = d.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        h = template_hash(template)
        owned = [rs for rs in replicasets if owned_by(rs, uid) and not terminating(rs)]
        new_rs = next((rs for rs in owned if rs["metadata"].get("labels", {}).get("pod-template-hash") == h), None)
        revisions = [
            int((rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0")) for rs in owned
        ]
        if new_rs is None:
            revision = str(max(revisions, default=0) + 1)
            rs_template = copy.deepcopy(template)
            rs_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = h
            body = {
                "metadata": {
                    "name": f"{d['metadata']['name']}-{h}",
                    "labels": {**(template.get("metadata") or {}).get("labels", {}), "pod-template-hash": h},
                    "annotations": {
                        "deployment.kubernetes.io/revision": revision,
                        "deployment.kubernetes.io/desired-replicas": str(desired),
                    },
                    "ownerReferences": [owner_ref(d)],
                },
                "spec": {"replicas": desired, "selector": selector, "template": rs_template},
            }
            try:
                new_rs = self.double.create(RS, ns, body)
            except ApiError as err:
                if err.code != 409:
                    raise
                return
            self.wake()
        else:
            rev = (new_rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0")
            top = str(max(revisions, default=0))
            want_rev = rev if int(rev) == int(top) else str(int(top) + 1)
            if int((new_rs.get("spec") or {}).get("replicas", 0)) != desired or rev != want_rev:

                def scale(o: Obj) -> None:
                    o["spec"]["replicas"] = desired
                    o["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = want_rev

                self.store.mutate(RS, ns, new_rs["metadata"]["name"], scale)
        new_status = new_rs.get("status") or {}
        new_ready = int(new_status.get("readyReplicas", 0) or 0)
        for rs in owned:
            if rs["metadata"]["name"] == new_rs["metadata"]["name"]:
                continue
            old_ready = int((rs.get("status") or {}).get("readyReplicas", 0) or 0)
            if int((rs.get("spec") or {}).get("replicas", 0)) != 0 and (new_ready >= desired or old_ready == 0):

                def zero(o: Obj) -> None:
                    o["spec"]["replicas"] = 0

                self.store.mutate(RS, ns, rs["metadata"]["name"], zero)
        all_rs = [self.store.find(RS, ns, rs["metadata"]["name"]) or rs for rs in owned] if owned else [new_rs]
        stats = [rs.get("status") or {} for rs in all_rs]
        replicas = sum(int(s.get("replicas", 0) or 0) for s in stats)
        ready = sum(int(s.get("readyReplicas", 0) or 0) for s in stats)
        available = sum(int(s.get("availableReplicas", 0) or 0) for s in stats)
        updated = int(new_status.get("replicas", 0) or 0)
        conds = list((d.get("status") or {}).get("conditions") or [])
        if available >= desired:
            conds = set_condition(
                conds,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                update_time=True,
            )
        else:
            conds = set_condition(
                conds,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                update_time=True,
            )
        rs_name = new_rs["metadata"]["name"]
        if updated >= desired and new_ready >= desired and replicas == updated:
            conds = set_condition(
                conds,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                update_time=True,
            )
        else:
            conds = set_condition(
                conds,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" is progressing.',
                update_time=True,
            )
        rs_failure = next((c for c in (new_status.get("conditions") or []) if c.get("type") == "ReplicaFailure"), None)
        if rs_failure is not None:
            conds = set_condition(conds, "ReplicaFailure", "True", "FailedCreate", str(rs_failure.get("message")))
        else:
            conds = [c for c in conds if c.get("type") != "ReplicaFailure"]
        status: Obj = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "conditions": conds,
        }
        if desired - available > 0:
            status["unavailableReplicas"] = desired - available
        status = {k: v for k, v in status.items() if v != 0 or k == "observedGeneration"}
        self._status(d, status)

    # --- ReplicaSet --------------------------------------------------------------------------------

    def replicaset(self, rs: Obj, pods: list[Obj]) -> None:
        uid = rs["metadata"]["uid"]
        spec = rs.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        mine = [p for p in pods if owned_by(p, uid)]
        # finished pods (evicted, failed) are replaced but kept, as a real ReplicaSet controller does: they go
        # only when the pod garbage collector's threshold is reached, or with the ReplicaSet
        active = [p for p in mine if not terminating(p) and pod_phase(p) not in ("Succeeded", "Failed")]
        failure = ""
        if len(active) < desired:
            for _ in range(desired - len(active)):
                failure = self._create_or_record(rs, spec.get("template") or {}, f"{rs['metadata']['name']}-{suffix()}")
                if failure:
                    break
        elif len(active) > desired:
            victims = sorted(active, key=lambda p: (pod_ready(p), p["metadata"].get("creationTimestamp", "")))
            for p in victims[: len(active) - desired]:
                self._delete("Pod", p)
            active = victims[len(active) - desired :]
        ready = sum(1 for p in active if pod_ready(p))
        status = {
            "replicas": len(active) if len(active) <= desired else desired,
            "fullyLabeledReplicas": len(active),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        status["replicas"] = len(active)
        status = {k: v for k, v in status.items() if v != 0 or k == "replicas"}
        conds = list((rs.get("status") or {}).get("conditions") or [])
        if failure:
            conds = set_condition(conds, "ReplicaFailure", "True", "FailedCreate", failure)
        elif len(active) >= desired:
            conds = [c for c in conds if c.get("type") != "ReplicaFailure"]
        if conds:
            status["conditions"] = conds
        self._status(rs, status)

    # --- StatefulSet -------------------------------------------------------------------------------

    def statefulset(self, sts: Obj, pods: list[Obj]) -> None:
        ns = sts["metadata"]["namespace"]
        name = sts["metadata"]["name"]
        uid = sts["metadata"]["uid"]
        spec = sts.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        revision = f"{name}-{template_hash(template)}"
        mine = {p["metadata"]["name"]: p for p in pods if owned_by(p, uid)}
        busy = any(terminating(p) for p in mine.values())
        parallel = spec.get("podManagementPolicy") == "Parallel"
        for i in range(desired):
            pod_name = f"{name}-{i}"
            if pod_name in mine:
                if not parallel and not pod_ready(mine[pod_name]):
                    break
                continue
            if busy:
                break
            volumes = list(copy.deepcopy((template.get("spec") or {}).get("volumes") or []))
            for tpl in spec.get("volumeClaimTemplates") or []:
                tname = (tpl.get("metadata") or {}).get("name", "")
                claim = f"{tname}-{pod_name}"
                if self.store.find(PVC, ns, claim) is None:
                    with contextlib.suppress(ApiError):
                        self.double.create(
                            PVC,
                            ns,
                            {
                                "metadata": {
                                    "name": claim,
                                    "labels": (template.get("metadata") or {}).get("labels") or {},
                                },
                                "spec": copy.deepcopy(tpl.get("spec") or {}),
                                "status": {"phase": "Bound"},
                            },
                        )
                volumes = [v for v in volumes if v.get("name") != tname]
                volumes.append({"name": tname, "persistentVolumeClaim": {"claimName": claim}})
            changes: Obj = {"hostname": pod_name}
            if spec.get("serviceName"):
                changes["subdomain"] = spec["serviceName"]
            if volumes:
                changes["volumes"] = volumes
            self._new_pod(
                sts,
                template,
                pod_name,
                {
                    "controller-revision-hash": revision,
                    "statefulset.kubernetes.io/pod-name": pod_name,
                    "apps.kubernetes.io/pod-index": str(i),
                },
                changes,
            )
            if not parallel:
                break
        # scale down and rolling update, one pod at a time, highest ordinal first
        if not busy:

            def ordinal(p: Obj) -> int:
                tail = p["metadata"]["name"].rsplit("-", 1)[-1]
                return int(tail) if tail.isdigit() else -1

            extra = sorted((p for p in mine.values() if ordinal(p) >= desired), key=ordinal, reverse=True)
            outdated = sorted(
                (
                    p
                    for p in mine.values()
                    if ordinal(p) < desired
                    and p["metadata"].get("labels", {}).get("controller-revision-hash") != revision
                ),
                key=ordinal,
                reverse=True,
            )
            if extra:
                self._delete("Pod", extra[0])
            elif outdated:
                self._delete("Pod", outdated[0])
        active = [p for p in mine.values() if not terminating(p)]
        ready = sum(1 for p in active if pod_ready(p))
        updated = sum(1 for p in active if p["metadata"].get("labels", {}).get("controller-revision-hash") == revision)
        status: Obj = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(active),
            "readyReplicas": ready,
            "currentReplicas": updated,
            "updatedReplicas": updated,
            "availableReplicas": ready,
            "currentRevision": revision,
            "updateRevision": revision,
            "collisionCount": 0,
        }
        status = {k: v for k, v in status.items() if v != 0 or k in ("replicas", "observedGeneration")}
        self._status(sts, status)

    # --- DaemonSet ---------------------------------------------------------------------------------

    def daemonset(self, ds: Obj, pods: list[Obj]) -> None:
        uid = ds["metadata"]["uid"]
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        revision = template_hash(template)
        self._controller_revision(ds, template, revision)
        mine = [p for p in pods if owned_by(p, uid)]
        active = [p for p in mine if not terminating(p)]
        current = [p for p in active if p["metadata"].get("labels", {}).get("controller-revision-hash") == revision]
        for p in active:
            if p not in current:
                self._delete("Pod", p)
        if not current and not any(terminating(p) for p in mine):
            from tests.kube_double.server import NODE_NAME

            self._new_pod(
                ds,
                template,
                f"{ds['metadata']['name']}-{suffix()}",
                {
                    "controller-revision-hash": revision,
                    "pod-template-generation": str(ds["metadata"].get("generation", 1)),
                },
                {"nodeName": NODE_NAME},
            )
        ready = sum(1 for p in current if pod_ready(p))
        self._status(
            ds,
            {
                "currentNumberScheduled": len(active),
                "desiredNumberScheduled": 1,
                "numberMisscheduled": 0,
                "numberReady": ready,
                "numberAvailable": ready,
                "updatedNumberScheduled": len(current),
                "observedGeneration": ds["metadata"].get("generation", 1),
                **({"numberUnavailable": 1} if not ready else {}),
            },
        )

    def _controller_revision(self, owner: Obj, template: Obj, revision_hash: str) -> None:
        """The ControllerRevision of ``owner``'s template (as the DaemonSet controller keeps them): named
        ``<owner>-<hash>``, labelled with the template's labels and ``controller-revision-hash``, ``revision``
        one above the highest before (a template that comes back gets the next number again)."""
        ns, uid = owner["metadata"]["namespace"], owner["metadata"]["uid"]
        name = f"{owner['metadata']['name']}-{revision_hash}"
        items, _ = self.store.select(CR, ns)
        mine = [r for r in items if owned_by(r, uid)]
        top = max((int(r.get("revision") or 0) for r in mine), default=0)
        current = next((r for r in mine if r["metadata"]["name"] == name), None)
        if current is not None:
            if int(current.get("revision") or 0) < top:

                def bump(o: Obj) -> None:
                    o["revision"] = top + 1

                self.store.mutate(CR, ns, name, bump)
            return
        labels = {**((template.get("metadata") or {}).get("labels") or {}), "controller-revision-hash": revision_hash}
        with contextlib.suppress(ApiError):
            self.double.create(
                CR,
                ns,
                {
                    "metadata": {"name": name, "labels": labels, "ownerReferences": [owner_ref(owner)]},
                    "data": {"spec": {"template": copy.deepcopy(template)}},
                    "revision": top + 1,
                },
            )

    # --- Job ---------------------------------------------------------------------------------------

    def job(self, job: Obj, pods: list[Obj]) -> None:
        uid = job["metadata"]["uid"]
        spec = job.get("spec") or {}
        template = spec.get("template") or {}
        completions = int(spec.get("completions", 1) or 1)
        parallelism = int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
        backoff = int(spec.get("backoffLimit", 6) if spec.get("backoffLimit") is not None else 6)
        old = job.get("status") or {}
        conds = list(old.get("conditions") or [])
        finished = any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conds)
        mine = [p for p in pods if owned_by(p, uid)]
        succeeded = sum(1 for p in mine if pod_phase(p) == "Succeeded")
        failed_pods = sum(1 for p in mine if pod_phase(p) == "Failed")
        restarts = sum(
            int(cs.get("restartCount", 0) or 0)
            for p in mine
            for cs in (p.get("status") or {}).get("containerStatuses") or []
        )
        failed = failed_pods + restarts
        active = [p for p in mine if not terminating(p) and pod_phase(p) not in ("Succeeded", "Failed")]
        status: Obj = {"startTime": old.get("startTime") or now_rfc3339()}
        if finished:
            for p in active:
                self._delete("Pod", p)
            active = []
        elif failed > backoff:
            conds = set_condition(
                conds, "FailureTarget", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            )
            conds = set_condition(
                conds, "Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            )
            for p in active:
                self._delete("Pod", p)
            active = []
        elif succeeded >= completions:
            conds = set_condition(
                conds, "SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods"
            )
            conds = set_condition(
                conds, "Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods"
            )
            status["completionTime"] = old.get("completionTime") or now_rfc3339()
        elif failed and not active and not self._backed_off(uid, failed):
            pass  # the Job controller waits 10 s, 20 s, 40 s ... (up to 6 min) after each failure
        else:
            want = min(parallelism, completions - succeeded) - len(active)
            for _ in range(max(0, want)):
                if self._create_or_record(
                    job,
                    template,
                    f"{job['metadata']['name']}-{suffix()}",
                    {"job-name": job["metadata"]["name"], "batch.kubernetes.io/job-name": job["metadata"]["name"]},
                ):
                    break
        if old.get("completionTime") and "completionTime" not in status:
            status["completionTime"] = old["completionTime"]
        if active:
            status["active"] = len(active)
        ready = sum(1 for p in active if pod_ready(p))
        status["ready"] = ready
        status["terminating"] = 0
        if succeeded:
            status["succeeded"] = succeeded
        if failed:
            status["failed"] = failed
        status["uncountedTerminatedPods"] = {}
        if conds:
            status["conditions"] = conds
        self._status(job, status)
