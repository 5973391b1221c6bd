"""nbgrader configuration for the students of a shared machine or a JupyterHub (docs/instructors.md).

A hub's administrator installs it as /etc/jupyter/nbgrader_config.py (or in each student's ~/.jupyter/):
students then fetch, submit and fetch feedback with plain ``nbgrader fetch_assignment 02_identity_block``,
``nbgrader submit 02_identity_block`` and ``nbgrader fetch_feedback 02_identity_block`` from their home.
``tests/test_exchange.py`` uses this file, with ``c.Exchange.root`` pointed at a temporary exchange.

The exchange folder is made once by root, writable by everyone with the sticky bit, as nbgrader's docs say:
``mkdir -p /srv/nbgrader/exchange && chmod 1777 /srv/nbgrader/exchange``.
"""

import os

from nbgrader.exchange.default.submit import ExchangeSubmit

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "resnet-course"
c.Exchange.root = "/srv/nbgrader/exchange"


class PrivateSubmit(ExchangeSubmit):
    """nbgrader's submit, with the submission's folder closed to the other students.

    nbgrader 0.9.6 leaves a submission in ``inbound/`` as a folder of mode 0777 holding files of mode 0644: only
    its name (``<student>+<assignment>+<timestamp>+<random>`` in the unlistable, 0733 ``inbound/``) hides it, and
    whoever knows the name reads the notebook and its ``submission_secret.txt``, from which the name of the
    student's feedback in the exchange is derived. Here the folder becomes 0770: ``inbound/`` is setgid and owned
    by the instructor's group, so the folder's group is the instructor's; the instructor reads and removes it
    through the group, every other student gets PermissionError. (Between nbgrader's copy and this chmod the
    folder is briefly 0777, while its random name is known to nobody else.)
    """

    def copy_files(self):
        super().copy_files()
        dest = os.path.join(self.inbound_path, self.assignment_filename)
        if os.stat(dest).st_gid != os.stat(self.inbound_path).st_gid:
            self.log.warning("%s is not in the group of %s: left as nbgrader made it", dest, self.inbound_path)
            return
        os.chmod(dest, 0o770)


c.ExchangeFactory.submit = PrivateSubmit
