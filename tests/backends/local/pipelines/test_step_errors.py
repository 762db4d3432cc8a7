"""A failed step's error, as its pipeline reports it: the reason at the end of the log survives the cut."""
from studio_ext.backends.local.pipelines.duty import _shortened


def test_a_long_step_error_keeps_its_first_line_and_its_last_words() -> None:
    noise = "\n".join(f"distributed warning {i}: Port 8787 is already in use" for i in range(40))
    error = f"The script exited with code 2. {noise}\nbatch scoring failed: a.csv lacks the columns ['Age']"
    short = _shortened(error)
    assert len(short) <= 500
    assert short.startswith("The script exited with code 2.")
    assert short.endswith("batch scoring failed: a.csv lacks the columns ['Age']")


def test_a_short_step_error_is_kept_whole() -> None:
    assert _shortened("  The script exited with code 1. ValueError: bad  ") == \
        "The script exited with code 1. ValueError: bad"
