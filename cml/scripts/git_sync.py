"""CML job git_sync: brings the project's files up to date with the branch its repository tracks.

CML cloned the repository when setup-project created the project; this job pulls what was pushed
since, so the jobs after it and the Ray applications run the current scripts. It only
fast-forwards: local changes or a diverged branch stop it with git's own message, and nothing is
merged or overwritten.
"""

import os
import subprocess
import sys


def main() -> int:
    # CML starts a job in the project's root (/home/cdsw), the checkout of the repository.
    root = os.getcwd()
    if not os.path.isdir(os.path.join(root, ".git")):
        print(f"git_sync: {root} is not a git checkout: the project was not created from a repository. "
              "Set cml.git_url and let setup-project create the project from it.", file=sys.stderr)
        return 1
    before = revision(root)
    pulled = subprocess.run(["git", "-C", root, "pull", "--ff-only"], check=False)
    if pulled.returncode != 0:
        print("git_sync: `git pull --ff-only` failed (see above). Commit or discard local changes in the "
              "project, or recreate it, then run the job again.", file=sys.stderr)
        return pulled.returncode
    after = revision(root)
    print(f"git_sync: {root} is at {after}" + (" (unchanged)" if after == before else f" (was {before})"))
    return 0


def revision(root: str) -> str:
    result = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    return result.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
