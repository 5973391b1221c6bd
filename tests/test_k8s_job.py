"""``python -m tools.grade k8s-job``: the Indexed Job's manifest, checked offline against the Kubernetes API's
JSON schemas (kubernetes-validate, strict). NOT RUN ON A CLUSTER: nothing here applies it."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from tools import k8s
from tools.notebooks import ROOT

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install -r requirements.txt")
STUDENTS = ["alice", "bob o'neil", "carol"]


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    out = tmp_path_factory.mktemp("k8s") / "job.yaml"
    cmd = [sys.executable, "-m", "tools.grade", "k8s-job", "--students", *STUDENTS, "--parallelism", "2"]
    proc = subprocess.run(
        [*cmd, "--assignment", "02_identity_block", "--out", str(out)], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NOT RUN ON A CLUSTER" in out.read_text()
    return {o["kind"]: o for o in yaml.safe_load_all(out.read_text())}


def test_the_manifest_passes_the_kubernetes_schema(objects):
    assert set(objects) == {"ConfigMap", "NetworkPolicy", "Job"}
    k8s.validate(list(objects.values()))


def test_one_pod_per_student_locked_down(objects):
    job = objects["Job"]["spec"]
    assert (job["completionMode"], job["completions"], job["parallelism"]) == ("Indexed", 3, 2)
    assert job["backoffLimitPerIndex"] == 0 and job["maxFailedIndexes"] == 3  # one failed student stops no other
    pod = job["template"]["spec"]
    (box,) = pod["containers"]
    sc = box["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] and sc["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
    assert box["resources"]["requests"] == box["resources"]["limits"] == {"cpu": "1", "memory": "7Gi"}
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}} in pod["volumes"]
    assert {"name": "TF_NUM_INTRAOP_THREADS", "value": "1"} in box["env"]  # the pod's limit, not the node's cores
    labels = job["template"]["metadata"]["labels"]
    policy = objects["NetworkPolicy"]["spec"]
    assert policy["podSelector"]["matchLabels"] == labels and sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in policy and "egress" not in policy  # no rule: nothing in, nothing out
    assert objects["ConfigMap"]["data"]["students.txt"].splitlines() == STUDENTS


def test_each_pod_runs_grade_one_for_its_own_student(objects, tmp_path):
    """The pod's script, run with JOB_COMPLETION_INDEX=1 and the python replaced by a printer."""
    script = objects["Job"]["spec"]["template"]["spec"]["containers"][0]["command"][2]
    (tmp_path / "students.txt").write_text(objects["ConfigMap"]["data"]["students.txt"])
    (tmp_path / "python").write_text('#!/bin/sh\nprintf "[%s]\\n" "$@"\n')
    (tmp_path / "python").chmod(0o755)
    script = script.replace("/config/students.txt", str(tmp_path / "students.txt"))
    script = script.replace("'/app/.venv/bin/python'", str(tmp_path / "python")).replace("/results", str(tmp_path))
    proc = subprocess.run(["sh", "-c", script], env={"JOB_COMPLETION_INDEX": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0
    args = (tmp_path / "bob o'neil.log").read_text().splitlines()
    assert args[:3] == ["[-m]", "[resnet_course.grading.grade_one]", "[/course/submitted/bob o'neil]"], args
    assert f"[{tmp_path}/bob o'neil.json]" in args and "[--assignment=02_identity_block]" in args


@pytest.mark.parametrize(
    "kind, path, value",
    [
        ("Job", ["spec", "template", "spec", "containers", 0, "securityContext", "allowPrivilegeEscalaton"], False),
        ("Job", ["spec", "completions"], "3"),
        ("Job", ["spec", "template", "spec", "automountServiceAccountToken"], "false"),
        ("NetworkPolicy", ["spec", "denyAll"], True),
    ],
    ids=["unknown field", "string for an integer", "string for a boolean", "unknown policy field"],
)
def test_a_wrong_manifest_is_refused(objects, kind, path, value):
    wrong = copy.deepcopy(objects[kind])
    where = wrong
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        k8s.validate([wrong])


def test_thread_pools_follow_the_cpu_limit():
    from tools import k8s

    assert k8s.thread_env("2")["TF_NUM_INTRAOP_THREADS"] == "2"
    assert k8s.thread_env("500m")["OMP_NUM_THREADS"] == "1"
    assert k8s.thread_env("2500m")["TF_NUM_INTEROP_THREADS"] == "2"
