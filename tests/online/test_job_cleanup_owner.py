"""After an online job, the cleanup removes the job's TMPDIR only if it is this user's: a folder
of the job-tmp name that ``out/online.tmpdir`` names but another user owns stays, with what it
holds (the files in ``out`` are not trusted to name anything else)."""

import os

import pytest

from pdesurrogate.online import JOB_TMP_FILE, JOB_TMP_PREFIX, _clean_up_after_job


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a folder of another owner")
def test_a_job_tmpdir_of_another_user_is_not_removed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    theirs = tmp_path / f"{JOB_TMP_PREFIX}1-00000000"
    theirs.mkdir()
    (theirs / "data").write_text("keep\n")
    os.chown(theirs, 65534, 65534)
    (out / JOB_TMP_FILE).write_text(f"{theirs}\n")
    _clean_up_after_job(out)
    assert (theirs / "data").read_text() == "keep\n"
    assert not (out / JOB_TMP_FILE).exists()  # the record goes; the folder it named stays
