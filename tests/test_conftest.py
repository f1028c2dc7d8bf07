"""What conftest.py adds: the note of a failed test marked `xla_structure`, and CI's refusal of a skip."""

from pathlib import Path

pytest_plugins = ["pytester"]


def test_only_a_failed_xla_structure_test_gets_the_note(pytester):
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text())
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.xla_structure(jaxlib="0.0.1")
        def test_marked_fails():
            assert False

        @pytest.mark.xla_structure(jaxlib="0.0.1")
        def test_marked_passes():
            pass

        def test_unmarked_fails():
            assert False
        """
    )
    result = pytester.runpytest("-rf")
    result.assert_outcomes(passed=1, failed=2)
    output = result.stdout.str()
    assert output.count("as jaxlib 0.0.1 compiled it") == 1
    notes = output.split("XLA:CPU compiled structure")[1:]
    assert len(notes) == 1 and "without a bug in eqx-resnet" in notes[0] and "benchmarks/README.md" in notes[0]
    # The note follows the marked test's own failure, not the unmarked one's.
    assert (
        output.index("test_marked_fails")
        < output.index("XLA:CPU compiled structure")
        < output.index("_ test_unmarked_fails _")
    )


SKIPS = """
import pytest

def test_needs_a_missing_package():
    pytest.importorskip("not_installed_anywhere")

@pytest.mark.skipif(True, reason="no GPU here")
def test_needs_a_gpu():
    pass

@pytest.mark.xfail(reason="a known bug")
def test_known_bug():
    assert False
"""


def test_ci_fails_a_test_it_skips_unless_a_skipif_marker_says_what_the_machine_lacks(pytester, monkeypatch):
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text())
    pytester.makepyfile(SKIPS)
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest("-rfs")
    result.assert_outcomes(failed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*CI skipped this test (could not import 'not_installed_anywhere'*must run it*"])
    monkeypatch.delenv("CI")
    pytester.runpytest().assert_outcomes(skipped=2, xfailed=1)  # outside CI, a skip is a skip
