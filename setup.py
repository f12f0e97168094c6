"""The wheel leaves the demo site out: pyproject.toml lists the packages, and this build step
drops the demo's modules from them (setuptools has no setting for single modules)."""

from setuptools import setup
from setuptools.command.build_py import build_py

DEMO_MODULES = {
    ("bootwebhooks", "settings"),
    ("bootwebhooks", "urls"),
    ("bootwebhooks", "wsgi"),
    ("bootwebhooks", "asgi"),
    ("bootwebhooks", "env"),
    ("bootwebhooks.memberships.management.commands", "seed_demo"),
}


class BuildWithoutDemo(build_py):
    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if (m[0], m[1]) not in DEMO_MODULES]


setup(cmdclass={"build_py": BuildWithoutDemo})
