"""In a container or a Slurm job with a cgroup v2 CPU quota (``cpu.max`` ``200000 100000``: 2
CPUs) on a 64-core node, the affinity mask and ``os.cpu_count()`` say 64, and ``generate``
started 64 worker processes on 2 CPUs. ``available_cpus`` now honours the quota, read from a
fake cgroup tree here (its root passed as an argument)."""

import os

import pytest

from pdesurrogate.datasets import generate


def _tree(root, own: str, quotas: dict[str, str]) -> str:
    """A filesystem root whose /proc/self/cgroup puts this process in ``own`` and whose
    /sys/fs/cgroup holds ``cpu.max`` files (cgroup path -> contents)."""
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "self" / "cgroup").write_text(f"0::{own}\n")
    for path, text in quotas.items():
        folder = root / "sys" / "fs" / "cgroup" / path.strip("/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cpu.max").write_text(text + "\n")
    return str(root)


@pytest.fixture
def node_of_64(monkeypatch):
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)


@pytest.mark.parametrize(("own", "quotas", "cpus"), [
    ("/", {"/": "200000 100000"}, 2),                      # a container: its own root
    ("/", {"/": "max 100000"}, 64),                        # no quota
    ("/", {"/": "150000 100000"}, 2),                      # 1.5 CPUs: rounded up
    ("/", {"/": "10000 100000"}, 1),                       # 0.1 CPU: at least 1
    ("/", {"/": "12800000 100000"}, 64),                   # above the affinity mask
    # a Slurm step: the job's quota, above the step's and task's cgroups (which have none)
    ("/system.slice/slurmstepd.scope/job_7/step_0/user/task_0",
     {"/": "max 100000", "/system.slice/slurmstepd.scope/job_7": "400000 100000",
      "/system.slice/slurmstepd.scope/job_7/step_0/user/task_0": "max 100000"}, 4),
    ("/a/b", {"/a": "800000 100000", "/a/b": "300000 100000"}, 3),  # the smallest
    ("/a", {}, 64),                                        # no cpu.max (cgroup v1, no cpu)
])
def test_available_cpus_honours_a_cgroup_v2_quota(tmp_path, node_of_64, own, quotas, cpus):
    assert generate.available_cpus(_tree(tmp_path, own, quotas)) == cpus


def test_no_cgroup_v2_line_is_no_quota(tmp_path, node_of_64):
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "cgroup").write_text("4:cpu,cpuacct:/job\n")
    assert generate.cgroup_cpu_quota(str(tmp_path)) is None
    assert generate.available_cpus(str(tmp_path / "nowhere")) == 64
