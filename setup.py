"""Build hook: ship the knowledge folders inside the wheel.

The Turtle, shapes and saved queries live at the top of the repository where curators
edit them; a wheel must carry them so that ``spacecoop validate`` works from anywhere.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

KNOWLEDGE_DIRS = ("ontology", "data", "shapes", "queries")


class BuildWithKnowledge(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).parent
        target = Path(self.build_lib) / "spacecoop" / "bundled"
        for name in KNOWLEDGE_DIRS:
            dest = target / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(root / name, dest)
        vendor = root / "server" / "spacecoop" / "pages" / "static" / "vendor"
        if vendor.exists():
            dest = Path(self.build_lib) / "spacecoop" / "pages" / "static" / "vendor"
            shutil.copytree(vendor, dest, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithKnowledge})
