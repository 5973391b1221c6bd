"""A Kubernetes Indexed Job that grades every student (``python -m tools.grade k8s-job``): generated, schema-checked.

NOT RUN ON A CLUSTER: the manifest is checked offline against the Kubernetes API's JSON schemas (the
``kubernetes-validate`` package, strict: no unknown field, every type right; tests/test_k8s_job.py), never applied.

Three objects, in one YAML stream: a ConfigMap holding ``students.txt`` (one student per line), a NetworkPolicy that
denies every ingress and egress of the grading pods, and the Job: ``completionMode: Indexed``, ``completions`` =
the number of students, ``backoffLimitPerIndex: 0`` (a failed student is named in the Job's ``failedIndexes``,
the others go on), one pod per student that runs the same ``grade_one`` command as ``make autograde`` with the
rootless sandbox (bubblewrap ``--unshare-user``), as a non-root user with no capability, no privilege escalation,
a read-only root file system, the runtime's default seccomp profile, no service account token, an emptyDir
``/tmp``, and requests equal to limits. The image holds this repository at ``/app`` with its ``.venv`` and
bubblewrap; the course folder (``nbgrader_config.py``, ``notebooks/``, ``submitted/``) is a read-only volume at
``/course``; each pod writes ``/results/<student>.json``. The instructor then runs the import step alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "resnet-autograde"
K8S_VERSION = "1.33.0"  # backoffLimitPerIndex is GA from 1.33
APP, COURSE, RESULTS = Path("/app"), Path("/course"), Path("/results")
NON_ROOT = 65534


def thread_env(cpu) -> dict[str, str]:
    """TensorFlow's thread pools sized to the pod's CPU limit ("2", "1.5" or "500m"), as ``host.thread_env`` sizes
    them on one machine: a container sees the node's cores, not its limit."""
    from resnet_course.grading import host

    return dict.fromkeys(host.THREAD_VARIABLES, str(max(1, int(cpu_cores(cpu)))))


def cpu_cores(cpu) -> float:
    """A Kubernetes CPU quantity ("2", "1.5", "500m") in cores; ``argparse.ArgumentTypeError`` if it is none."""
    text = str(cpu)
    try:
        cores = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        cores = -1.0
    if not cores > 0:
        raise argparse.ArgumentTypeError(f"expected a CPU quantity such as 1, 1.5 or 500m, got {text!r}")
    return cores


def cpu_quantity(text: str) -> str:
    """``--cpu`` as written, once ``cpu_cores`` accepts it (argparse's type)."""
    cpu_cores(text)
    return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", default="registry.example/resnet-course-grader:latest", help="the grader's image")
    p.add_argument("--parallelism", type=int, default=20, help="pods (students) at a time")
    p.add_argument("--namespace", default="resnet-grading")
    p.add_argument("--cpu", default="1", type=cpu_quantity, help="CPU per student (request = limit)")
    p.add_argument("--memory", help="memory per student (request = limit; default: what one student needs)")
    p.add_argument("--course-claim", default="resnet-course", help="PersistentVolumeClaim of the course folder")
    p.add_argument("--results-claim", default="resnet-results", help="PersistentVolumeClaim the results go to")
    p.add_argument("--students", nargs="*", help="default: every student with a submission in the course")
    p.add_argument("--assignment", action="append", default=[], help="default: every assignment of a student")
    p.add_argument("--out", type=Path, help="write the manifest here (default: print it)")


def manifest(students: list[str], assignments: list[str], args: argparse.Namespace) -> list[dict]:
    """The ConfigMap, the NetworkPolicy and the Indexed Job, as plain data."""
    from resnet_course.grading import engines, host

    labels = {"app.kubernetes.io/name": NAME}
    meta = {"namespace": args.namespace, "labels": labels}
    line = engines.grade_one_line(COURSE, RESULTS, assignments, python=str(APP / ".venv" / "bin" / "python"))
    script = "\n".join(
        [
            "set -u",
            'student=$(sed -n "$((JOB_COMPLETION_INDEX + 1))p" /config/students.txt)',
            '[ -n "$student" ] || exit 2',
            "uid=$((65534))  # rootless: grade_one's sandboxes run as 65534 in user namespaces of their own",
            line,
            "status=$?",
            '[ "$status" = 3 ] && exit 0  # graded, with a grader fault the results file names',
            'exit "$status"',
        ]
    )
    drop_all = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    resources = {"cpu": str(args.cpu), "memory": str(args.memory or f"{host.PER_JOB_BYTES // 2**30}Gi")}
    container = {
        "name": "grade",
        "image": args.image,
        "workingDir": str(APP),
        "command": ["/bin/sh", "-c", script],
        "env": [{"name": "HOME", "value": "/tmp"}, {"name": "TF_CPP_MIN_LOG_LEVEL", "value": "3"}]
        + [{"name": k, "value": v} for k, v in thread_env(args.cpu).items()],
        "securityContext": drop_all,
        "resources": {"requests": resources, "limits": resources},
        "volumeMounts": [
            {"name": "course", "mountPath": str(COURSE), "readOnly": True},
            {"name": "results", "mountPath": str(RESULTS)},
            {"name": "students", "mountPath": "/config", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NON_ROOT,
            "runAsGroup": NON_ROOT,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "course", "persistentVolumeClaim": {"claimName": args.course_claim, "readOnly": True}},
            {"name": "results", "persistentVolumeClaim": {"claimName": args.results_claim}},
            {"name": "students", "configMap": {"name": f"{NAME}-students"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
    }
    task_seconds = int(host.wall_limit(None) + host.GRACE_SECONDS)
    job = {
        "completionMode": "Indexed",
        "completions": len(students),
        "parallelism": max(1, min(args.parallelism, len(students))),
        "backoffLimitPerIndex": 0,
        "maxFailedIndexes": len(students),
        "activeDeadlineSeconds": task_seconds * max(1, -(-len(students) // max(args.parallelism, 1))),
        "ttlSecondsAfterFinished": 86400,
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{NAME}-students", **meta},
            "data": {"students.txt": "".join(f"{s}\n" for s in students)},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"{NAME}-no-network", **meta},
            "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Ingress", "Egress"]},
        },
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": NAME, **meta}, "spec": job},
    ]


def validate(objects: list[dict], version: str = K8S_VERSION) -> None:
    """Each object against the Kubernetes API's JSON schema, strict (``kubernetes_validate.ValidationError``)."""
    import kubernetes_validate

    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


def to_yaml(objects: list[dict]) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data):  # every value written out, no anchors
            return True

    def text(dumper, data):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)

    Dumper.add_representer(str, text)
    head = "# Generated by `python -m tools.grade k8s-job`. Schema-checked offline; NOT RUN ON A CLUSTER.\n"
    return head + yaml.dump_all(objects, Dumper=Dumper, sort_keys=False, width=120)


def main(course: Path, args: argparse.Namespace) -> int:
    students = args.students or sorted(p.name for p in (course / "submitted").glob("*") if p.is_dir())
    if not students or any("\n" in s or "/" in s for s in students):
        raise SystemExit("k8s-job: no students (give --students or put submissions in submitted/), or a bad name")
    objects = manifest(students, args.assignment, args)
    validate(objects)
    text = to_yaml(objects)
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}: {len(students)} students, {json.dumps(args.image)}")
    else:
        print(text, end="")
    return 0
