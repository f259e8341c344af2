"""nfs-mount.sh run with bash on a fake node."""

from __future__ import annotations

import pytest

FILESTORE = {"nfs-server": "10.20.0.2", "nfs-export": "/vol1"}
ENTRY = "10.20.0.2:/vol1 /mnt/shared nfs rw,hard,noatime,_netdev,nofail 0 0"


def test_without_a_server_it_does_nothing(make_node):
    node = make_node("Worker")
    before = node.tree()
    result = node.run("nfs-mount.sh")

    assert result.stdout.strip().endswith("No nfs-server in the metadata: nothing to mount")
    assert len(result.stdout.splitlines()) == 1 and result.stderr == ""
    assert node.tree() == before
    assert node.calls("mount") == []


def test_mounts_the_export_and_adds_it_to_fstab(make_node):
    node = make_node("Worker", metadata=FILESTORE)
    node.run("nfs-mount.sh")

    assert node.calls("mount") == ["-t nfs -o rw,hard,noatime,_netdev,nofail 10.20.0.2:/vol1 /mnt/shared"]
    assert node.read("/etc/fstab").splitlines() == ["# /etc/fstab", "UUID=abc / ext4 defaults 0 1", ENTRY]
    assert node.exists("/mnt/shared")


def test_second_run_keeps_one_fstab_line_and_mounts_nothing(make_node):
    node = make_node("Master", metadata=FILESTORE)
    node.run("nfs-mount.sh")
    first = node.tree()

    node.run("nfs-mount.sh")

    assert node.tree() == first
    assert node.read("/etc/fstab").splitlines().count(ENTRY) == 1
    assert node.calls("mount") == []


def test_options_and_mount_point_come_from_metadata_and_replace_an_old_entry(make_node):
    metadata = {**FILESTORE, "nfs-mount-point": "/data", "nfs-mount-options": "rw,vers=4.1,_netdev"}
    node = make_node("Worker", metadata=metadata)
    (node.root / "etc/fstab").write_text("# /etc/fstab\n10.9.9.9:/old /data nfs defaults 0 0\n")
    node.run("nfs-mount.sh")

    assert node.read("/etc/fstab").splitlines() == ["# /etc/fstab", "10.20.0.2:/vol1 /data nfs rw,vers=4.1,_netdev 0 0"]
    assert node.calls("mount") == ["-t nfs -o rw,vers=4.1,_netdev 10.20.0.2:/vol1 /data"]


def test_mount_is_retried_with_backoff(make_node):
    node = make_node("Worker", metadata=FILESTORE)
    node.fail_next("mount", 2)
    node.run("nfs-mount.sh")

    assert len(node.calls("mount")) == 3
    assert node.calls("sleep") == ["2", "4"]


def test_gives_up_after_bounded_attempts(make_node):
    node = make_node("Worker", metadata=FILESTORE)
    node.fail_next("mount", 100)
    result = node.run("nfs-mount.sh", check=False)

    assert result.returncode != 0
    assert len(node.calls("mount")) == 6
    assert node.calls("sleep") == ["2", "4", "8", "16", "32"]


def test_installs_the_nfs_client_when_missing(make_node):
    node = make_node("Worker", metadata=FILESTORE)
    node.run("nfs-mount.sh")  # the test PATH has no mount.nfs

    assert node.calls("apt-get") == ["update -q", "install -y -q nfs-common"]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"nfs-server": "10.20.0.2"}, "Metadata nfs-export is not set"),
        ({**FILESTORE, "nfs-export": "vol1"}, "Invalid nfs-export='vol1': must be an absolute path"),
        ({**FILESTORE, "nfs-mount-options": "rw;reboot"}, "Invalid nfs-mount-options='rw;reboot'"),
    ],
)
def test_bad_metadata_fails_clearly(make_node, metadata, message):
    node = make_node("Worker", metadata=metadata)
    result = node.run("nfs-mount.sh", check=False)

    assert result.returncode == 1
    assert message in result.stdout
    assert node.calls("mount") == []
