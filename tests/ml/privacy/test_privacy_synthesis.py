"""Private synthesis on OpenDP's mbi: MST where OpenDP's own budget split does not add up, and the synth extra."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from studio_ext.ml.privacy import ColumnMetadata, PrivacyMetadata, PrivateTable, plan_synthesis
from studio_ext.ml.privacy._synth import _mst_select_fits


@pytest.mark.slow  # six columns: OpenDP builds and scores 15 pairwise marginals (about 30 s on an idle machine)
def test_mst_releases_where_opendps_own_budget_split_would_not_add_up(diabetes: pd.DataFrame) -> None:
    # OpenDP's MST gives its selection step x = prior(prior(d - 0.9 d)) and each of its k = columns - 1
    # noisy-max queries prior(x / k); its compositor adds those rounding up. With 6 columns at epsilon 1.2
    # (the contingency table hands MST prior(prior(0.6))) that sum is one float over x, and OpenDP's MST
    # stops with "insufficient budget for query" (as on Adult at epsilon 3).
    d = math.nextafter(math.nextafter(1.2 - 1.2 * 0.5, -math.inf), -math.inf)
    assert not _mst_select_fits(d, 0.9, 5)
    md = PrivacyMetadata(columns={
        "Age": ColumnMetadata(name="Age", type="int", lower=0, upper=120),
        "BMI": ColumnMetadata(name="BMI", lower=0, upper=100),
        "Diabetic": ColumnMetadata(name="Diabetic", type="int", lower=0, upper=1),
        "Pregnancies": ColumnMetadata(name="Pregnancies", type="int", lower=0, upper=20),
        "PlasmaGlucose": ColumnMetadata(name="PlasmaGlucose", lower=0, upper=300),
        "DiastolicBloodPressure": ColumnMetadata(name="DiastolicBloodPressure", lower=0, upper=200)})
    # Few rows and 20 fitting steps: the test is about the release going through, not the fit.
    plan = plan_synthesis(PrivateTable(diabetes.head(500), md), epsilon=1.2, method="mst", iterations=20)
    eps, delta = plan.loss()
    assert eps <= 1.2 and eps == pytest.approx(1.2, rel=1e-9) and delta == 0.0
    rows = plan.release(rows=300)
    assert len(rows) == 300 and list(rows.columns) == list(md.columns)
    assert rows["Diabetic"].dropna().isin([0, 1]).all() and rows["Age"].dropna().between(0, 120).all()


def test_synthesis_without_the_synth_extra_names_it() -> None:
    # A fresh interpreter where the mbi package cannot be imported, as in an install without the extra.
    script = textwrap.dedent("""
        import sys
        sys.modules["mbi"] = None  # import mbi raises ImportError, as when the package is absent
        import pandas as pd
        from studio_ext.errors import MissingDependency
        from studio_ext.ml.privacy import ColumnMetadata, PrivacyMetadata, PrivateTable, plan_synthesis
        md = PrivacyMetadata(columns={"a": ColumnMetadata(name="a", type="int", lower=0, upper=1)})
        try:
            plan_synthesis(PrivateTable(pd.DataFrame({"a": [0, 1, 1]}), md), epsilon=1.0)
        except MissingDependency as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert "pip install 'studio-ext[synth]'" in out.stdout and "mbi" in out.stdout, out.stderr[-2000:]
