"""OpenDP-backed statistics and SQL over the diabetes table: values near the truth, losses as asked, bad input refused."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from studio_ext.errors import InvalidInput
from studio_ext.ml.privacy import ColumnMetadata, PrivacyMetadata, PrivateTable, compose, observed_extremes, plan_sql


@pytest.fixture(scope="module")
def table(diabetes: pd.DataFrame) -> PrivateTable:
    md = PrivacyMetadata(columns={
        "Age": ColumnMetadata(name="Age", type="int", lower=0, upper=120),
        "BMI": ColumnMetadata(name="BMI", lower=0, upper=100),
        "Diabetic": ColumnMetadata(name="Diabetic", type="int", lower=0, upper=1),
        "Pregnancies": ColumnMetadata(name="Pregnancies", type="int"),
    })
    return PrivateTable(diabetes, md, name="diabetes")


def test_statistics_are_near_the_exact_values_and_spend_what_was_asked(table: PrivateTable, diabetes: pd.DataFrame) -> None:
    mean = table.mean("Age", epsilon=1.0)
    assert mean.loss() == pytest.approx((1.0, 0.0), abs=1e-9)
    r = mean.release()
    assert r.epsilon <= 1.0 and r.delta == 0.0
    assert abs(r.value - diabetes["Age"].mean()) < 1.0
    lo, hi = r.interval
    assert lo <= r.value <= hi and hi - lo < 2

    count = table.count(epsilon=0.5).release()
    assert abs(count.value - len(diabetes)) < 60 and count.interval[0] < count.value < count.interval[1]

    var = table.variance("Age", epsilon=2.0).release()
    assert abs(var.value - diabetes["Age"].var()) < 0.5 * diabetes["Age"].var()
    assert var.interval[0] <= var.value <= var.interval[1]

    cov = table.covariance(["Age", "BMI"], epsilon=2.0).release()
    assert list(cov.value.columns) == ["Age", "BMI"]
    assert cov.value.loc["Age", "BMI"] == cov.value.loc["BMI", "Age"]
    assert (cov.interval[0] <= cov.value).all().all() and (cov.value <= cov.interval[1]).all().all()

    q = table.quantiles("Age", [0.5], epsilon=1.0).release()
    assert abs(q.value[0.5] - diabetes["Age"].median()) <= 5 and q.interval is None


def test_histograms_by_public_keys_and_by_bins(table: PrivateTable, diabetes: pd.DataFrame) -> None:
    by_key = table.histogram("Diabetic", epsilon=1.0).release()
    assert list(by_key.value["Diabetic"]) == [0, 1]
    exact = diabetes["Diabetic"].value_counts().sort_index().to_list()
    assert all(abs(a - b) < 50 for a, b in zip(by_key.value["count"], exact, strict=True))
    binned = table.histogram("Age", epsilon=1.0, bins=6).release()
    assert list(binned.value.columns) == ["lower", "upper", "count"] and len(binned.value) == 6
    assert abs(binned.value["count"].sum() - len(diabetes)) < 100


def test_sql_subset_groups_filters_and_names_what_it_refuses(table: PrivateTable, diabetes: pd.DataFrame) -> None:
    r = plan_sql(table, "SELECT Diabetic, COUNT(*) AS n, AVG(Age) AS age FROM diabetes GROUP BY Diabetic",
                 epsilon=1.0).release()
    assert list(r.value.columns) == ["Diabetic", "n", "age"] and list(r.value["Diabetic"]) == [0, 1]
    exact = diabetes.groupby("Diabetic")["Age"].mean()
    assert abs(r.value["age"][1] - exact[1]) < 2
    lower, upper = r.interval
    assert (lower["n"] <= r.value["n"]).all() and (r.value["n"] <= upper["n"]).all()

    r = plan_sql(table, "SELECT COUNT(*) n, VAR(BMI) v, MEDIAN(Age) m FROM diabetes WHERE Age > 30 AND "
                        "BMI BETWEEN 10 AND 50", epsilon=1.0).release()
    assert abs(r.value["n"][0] - len(diabetes.query("Age > 30 and 10 <= BMI <= 50"))) < 50
    assert math.isnan(r.interval[0]["m"][0])  # OpenDP states no accuracy for quantiles

    for sql, named in [("SELECT a.Age FROM diabetes a JOIN other b ON a.x = b.x", "JOIN"),
                       ("SELECT STDDEV(Age) FROM diabetes", "STDDEV"),
                       ("SELECT COUNT(*) FROM diabetes ORDER BY 1", "ORDER BY"),
                       ("SELECT COUNT(*) FROM (SELECT * FROM diabetes)", "subquery"),
                       ("SELECT COUNT(*) FROM patients", "patients")]:
        with pytest.raises(InvalidInput, match=named):
            plan_sql(table, sql, epsilon=1.0)


def test_bad_input_is_refused_before_anything_runs(table: PrivateTable, diabetes: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="no public bounds"):
        table.mean("Pregnancies", epsilon=1.0)
    with pytest.raises(InvalidInput, match="no privacy metadata"):
        table.sum("SerumInsulin", epsilon=1.0)
    for eps in (0, -1, float("nan"), float("inf")):
        with pytest.raises(InvalidInput, match="epsilon"):
            table.count(epsilon=eps)
    with pytest.raises(InvalidInput, match="1/rows"):
        table.count(epsilon=1.0, delta=1.0 / len(diabetes))
    with pytest.raises(InvalidInput, match="greater than upper"):
        ColumnMetadata(name="Age", lower=10, upper=1)
    with pytest.raises(InvalidInput, match="DataFrame"):
        PrivateTable([1, 2, 3], table.metadata)


def test_bounds_equal_to_observed_extremes_are_found(diabetes: pd.DataFrame) -> None:
    md = PrivacyMetadata(columns={"Age": ColumnMetadata(name="Age", lower=float(diabetes["Age"].min()), upper=120)})
    assert observed_extremes(md, diabetes) == ["Age.lower"]


def test_metadata_round_trips_and_losses_compose_through_opendp() -> None:
    md = PrivacyMetadata(columns={"Age": ColumnMetadata(name="Age", type="int", lower=0, upper=120)},
                         identifier="PatientID", budget_epsilon=3.0, budget_delta=1e-5)
    assert PrivacyMetadata.from_dict(md.to_dict()) == md
    assert compose([(0.5, 1e-6), (0.25, 0.0), (0.25, 1e-6)]) == pytest.approx((1.0, 2e-6))
    assert compose([]) == (0.0, 0.0)


def test_an_identifier_column_makes_opendp_bound_each_individuals_rows(diabetes: pd.DataFrame) -> None:
    columns = {"Age": ColumnMetadata(name="Age", type="int", lower=0, upper=120),
               "Diabetic": ColumnMetadata(name="Diabetic", type="int", lower=0, upper=1)}
    rows = PrivateTable(diabetes, PrivacyMetadata(columns=columns), name="diabetes")
    people = PrivateTable(diabetes, PrivacyMetadata(columns=columns, identifier="PatientID",
                                                    max_rows_per_individual=3), name="diabetes")
    by_row = rows.count(epsilon=1.0).release()
    by_person = people.count(epsilon=1.0).release()
    assert by_person.epsilon <= 1.0 + 1e-9
    width = lambda r: r.interval[1] - r.interval[0]  # noqa: E731
    assert width(by_person) > 2.5 * width(by_row)  # three rows per person: about 3x the noise
    grouped = plan_sql(people, "SELECT Diabetic, COUNT(*) AS n FROM diabetes GROUP BY Diabetic", epsilon=1.0).release()
    assert list(grouped.value["Diabetic"]) == [0, 1]
    with pytest.raises(InvalidInput, match="identifier"):
        PrivateTable(diabetes, PrivacyMetadata(columns=columns, identifier="Nobody")).count(epsilon=1.0)
