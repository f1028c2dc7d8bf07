"""The note conftest.py adds to a failed test marked `xla_structure`."""

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
