"""pytest plugin: claim files as tests, ``pytest --permtest configs/``.

pytest loads this module wherever permtest is installed (entry point group
``pytest11``, name ``permtest``; ``-p no:permtest`` turns it off). Without
``--permtest`` it only adds its options: it collects nothing and imports nothing
heavy, so a test suite's start-up is unchanged. The config reader, the runner and
the sources load when a claim file is collected.

With ``--permtest``, every ``*.yaml`` or ``*.yml`` file pytest meets under the paths
named on the command line is a claim file (hidden files only when named). A file
gives one test per claim and null, in the config's order: ``colors.yaml::colors-
cohere[tokens]``. The first of its tests to run runs the whole config, once, as
``permtest gate`` does (the correction is across the config's claims, per null);
every test of the file reads its outcome from that run, so its adjusted p-value and
verdict are the gate's. A test that misses its ``expect`` fails with the gate's two
lines for it (its JUnit failure message and the numbers); a claim without
``expect`` is reported, not gated, and passes. Collecting a file checks it as
``permtest check`` does (keys, source, every claim's words and options): a bad file
is a collection error whose text is permtest's message, without a traceback.

Deselecting tests (``-k``) does not shorten a file's run: the correction needs
every claim. Under pytest-xdist, ``--dist loadfile`` keeps a file's tests on one
worker, which then runs the config once.
"""

from __future__ import annotations

import pytest

SUFFIXES = (".yaml", ".yml")


class ClaimMissed(AssertionError):
    """A claim's verdict differs from its ``expect``: the gate's message and numbers."""


def pytest_addoption(parser) -> None:
    group = parser.getgroup("permtest", "permtest: claim files as tests")
    group.addoption("--permtest", action="store_true", default=False,
                    help="collect the *.yaml claim files under the given paths: a test per claim and null, "
                         "failing as `permtest gate` does")
    group.addoption("--permtest-permutations", type=int, metavar="N",
                    help="permutations per claim and null (default: each config's), as `permtest gate -n`")
    group.addoption("--permtest-seed", type=int, metavar="S",
                    help="random seed (default: each config's), as `permtest gate --seed`")
    group.addoption("--permtest-jobs", type=int, default=-1, metavar="JOBS",
                    help="parallel jobs of a config's run (default -1: every core); results do not depend on it")


def pytest_configure(config) -> None:
    if not config.getoption("permtest"):
        return
    from ._checks import JOBS, PERMUTATIONS, SEED, require
    from .errors import PermtestError

    flags = (("permtest_permutations", PERMUTATIONS, "--permtest-permutations"),
             ("permtest_seed", SEED, "--permtest-seed"), ("permtest_jobs", JOBS, "--permtest-jobs"))
    for dest, constraint, flag in flags:
        value = config.getoption(dest)
        if value is None:  # left out: each config's own
            continue
        try:
            require(value, constraint, flag)
        except PermtestError as exc:
            raise pytest.UsageError(str(exc)) from None
    # Without paths pytest would walk testpaths or the current folder, where any
    # YAML file (a CI workflow, a fixture) would be read as a claim file.
    named = getattr(pytest.Config, "ArgsSource", None)
    if named is not None and config.args_source != named.ARGS:
        raise pytest.UsageError("--permtest needs the claim files or folders to collect, e.g. "
                                "pytest --permtest configs/")


def pytest_collect_file(file_path, parent):
    if not parent.config.getoption("permtest") or file_path.suffix not in SUFFIXES:
        return None
    if file_path.name.startswith(".") and not parent.session.isinitpath(file_path):
        return None
    return ClaimFile.from_parent(parent, path=file_path)


class ClaimFile(pytest.File):
    """A claim file: one :class:`ClaimItem` per claim and null; runs the config once."""

    def collect(self):
        from . import config as _config
        from . import runner
        from .errors import PermtestError

        options = self.config.option
        try:
            loaded = _config.load(self.path).with_overrides(permutations=options.permtest_permutations,
                                                            seed=options.permtest_seed)
            runner.validate(loaded)  # as `permtest gate` does before the first permutation
        except PermtestError as exc:
            raise self.CollectError(str(exc)) from None
        self.permtest_config = loaded
        self._run = None
        for claim in loaded.claims:
            for null in claim.nulls:
                yield ClaimItem.from_parent(self, name=f"{claim.name}[{null}]", claim=claim.name, null=null)

    def outcomes(self, claim: str, null: str) -> list:
        """The outcomes of ``claim`` under ``null`` (a sweep's: one per layer), from
        the file's one run; the first call runs the config."""
        from . import runner
        from .errors import PermtestError, PermtestWarning

        if self._run is None:
            try:
                self._run = runner.execute(self.permtest_config, n_jobs=self.config.option.permtest_jobs)
            except PermtestError as exc:
                self._run = exc
            else:
                for warning in self._run.warnings:  # what the gate prints under its table
                    self.warn(PermtestWarning(f"{self.permtest_config.name}: {warning}"))
        if isinstance(self._run, PermtestError):
            raise PermtestError(str(self._run))  # every test of the file fails with the run's message
        return [o for o in self._run.outcomes if o.claim == claim and o.null == null]


class ClaimItem(pytest.Item):
    """One claim under one null of a claim file, judged as ``permtest gate`` judges it."""

    def __init__(self, *, claim: str, null: str, **kwargs):
        super().__init__(**kwargs)
        self.claim, self.null = claim, null

    def runtest(self) -> None:
        from .testing import _gate_lines

        tested = self.parent.outcomes(self.claim, self.null)
        passed, message, detail = _gate_lines(self.parent.permtest_config, tested)
        self.user_properties.append(("permtest", message))  # in pytest's --junitxml
        if passed is False:
            raise ClaimMissed(f"{message}\n{detail}")
        self.add_report_section("call", "permtest", message)

    def repr_failure(self, excinfo, style=None):
        from .errors import PermtestError

        if isinstance(excinfo.value, (ClaimMissed, PermtestError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"{self.parent.permtest_config.name}: {self.claim} [{self.null}]"
