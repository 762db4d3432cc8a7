"""The Datasets page driven from Python: the create wizard step by step with its live
preview, a failed registration that leaves nothing, and the dataset's page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from studio_ext import Input, Workspace, command
from studio_ext.entities import Data
from studio_ext.errors import Conflict
from studio_ext.panels import PAGES, open_page
from studio_ext.panels.datasets import DatasetsPanel


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    workspace = Workspace.create(tmp_path_factory.mktemp("panel-ws") / "ws")
    yield workspace
    workspace.runtime.stop()
    workspace.close()


def test_the_page_is_listed(ws):
    assert PAGES["data"].title == "Data"
    assert isinstance(open_page("data", ws), DatasetsPanel)


def test_wizard_registers_a_csv_with_options_chosen_on_the_way(ws, tmp_path):
    src = tmp_path / "sales.csv"
    src.write_text("region;amount;note;day\nnorth;1,5;a;2024-01-01\nsouth;2,25;b;2024-01-02\nnorth;3,0;c;2024-01-03\n")
    panel = DatasetsPanel(ws)
    assert "No datasets yet" in panel.table.value
    panel.create_button.click()
    wizard = panel.wizard
    assert wizard.layout.display == "" and wizard.step == 0

    wizard.next_button.click()  # nothing filled in yet
    assert wizard.step == 0 and wizard.message.text == "Give the dataset a name."
    wizard.name.value = "sales"
    wizard.path.value = str(src)
    wizard.next_button.click()
    assert wizard.step == 1
    # the delimiter is detected; the decimal comma is not yet applied
    assert "Delimiter detected: &#x27;;&#x27;" in wizard.preview_message.value
    assert "1,5" in wizard.preview.value and "amount: string" in wizard.preview.value
    wizard.decimal.value = ","  # the preview follows the setting at once
    assert "1.5" in wizard.preview.value and "amount: float" in wizard.preview.value
    wizard.quote_char.value = "ab"  # a bad setting shows its error beside the preview
    assert "'quote_char' read option must be a single character" in wizard.preview_message.text
    wizard.quote_char.value = '"'

    wizard.next_button.click()
    assert wizard.step == 2 and list(wizard.include) == ["region", "amount", "note", "day"]
    wizard.include["note"].value = False
    wizard.types["day"].value = "string"
    assert "note" not in wizard.preview.value and "day: string" in wizard.preview.value

    wizard.next_button.click()
    assert wizard.step == 3
    assert "read_options={&#x27;decimal&#x27;: &#x27;,&#x27;" in wizard.summary.value
    wizard.create_button.click()
    wizard.wait()
    assert wizard.status.text == "Registered sales version 1.", wizard.status.text
    assert wizard.progress.value == 1

    data = ws.data.get("sales")
    assert [(c.name, c.type) for c in data.columns] == [("region", "string"), ("amount", "float"), ("day", "string")]
    assert "ws.data.create_or_update(Data(name='sales'" in panel.code.code
    # the panel now lists it and shows its page
    assert "sales" in panel.table.value and panel.selector.options == (("Choose a dataset…", ""), ("sales", "sales"))
    assert panel.selector.value == "sales"  # the list says which dataset the page shows
    page = panel.page
    assert page.layout.display == "" and page.version.value == "1"
    assert "north" in page.preview.value and "2.25" in page.preview.value
    assert "ws.data.load(&#x27;sales&#x27;, version=&#x27;1&#x27;)" in page.consume.value
    assert "Input(type=&#x27;mltable&#x27;, path=&#x27;azureml:sales:1&#x27;)" in page.consume.value


def test_dataset_page_profile_versions_lineage_and_archive(ws, tmp_path, code_dir):
    src = tmp_path / "m.csv"
    src.write_text("x,label\n" + "".join(f"{i * 0.5},{'ab'[i % 2]}\n" for i in range(200)))
    ws.data.create_or_update(Data(name="m", path=str(src)))
    ws.data.create_or_update(Data(name="m", path=str(src), description="again"))
    (code_dir / "use.py").write_text("import sys; print(open(sys.argv[1], 'rb').read(4))\n")
    job = ws.jobs.create_or_update(command(code=str(code_dir), command="python use.py ${{inputs.d}}",
                                           inputs={"d": Input(type="mltable", path="azureml:m:1")}))
    panel = DatasetsPanel(ws)
    panel.selector.value = "m"
    page = panel.page
    assert page.version.value == "2" and page.version.options == ("1", "2")
    page.version.value = "1"
    assert job.name in page.lineage.value
    page.profile_button.click()
    page.wait()
    assert page.profile_result is not None and page.profile_result.row_count == 200
    assert "200 rows, 2 columns." == page.profile_status.text
    assert page.histogram_column.options == ("x", "label")
    figure = page.histogram.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert figure["data"][0]["type"] == "bar" and sum(figure["data"][0]["y"]) == 200
    page.histogram_column.value = "label"
    figure = page.histogram.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert figure["data"][0]["x"] == ["a", "b"] and figure["data"][0]["y"] == [100, 100]
    assert "ws.data.profile(&#x27;m&#x27;, version=&#x27;1&#x27;)" in panel.code.value

    page.version.value = "2"
    page.archive_button.click()
    assert ws.data.get("m", 2).archived and ws.data.get("m").version == "1"
    assert "Archived" in page.details.value and "yes" in page.details.value
    if not ws.jobs.get(job.name).status.is_terminal:  # lineage needed only its submission
        try:
            ws.jobs.begin_cancel(job.name).result(timeout=60)
        except Conflict:  # it ended meanwhile
            pass


def test_a_folder_datasets_page_lists_the_folders_own_files(ws, tmp_path):
    folder = tmp_path / "scans"
    (folder / "day2").mkdir(parents=True)
    (folder / "a.csv").write_text("x\n1\n")
    (folder / "day2" / "b.csv").write_text("x\n2\n")
    ws.data.create_or_update(Data(name="scans", path=str(folder), type="uri_folder"))
    panel = DatasetsPanel(ws)
    panel.selector.value = "scans"
    assert "a.csv, day2/b.csv" in panel.page.details.value and "scans/a.csv" not in panel.page.details.value


def test_a_failed_registration_shows_the_error_and_leaves_nothing(ws, tmp_path):
    src = tmp_path / "ragged.csv"
    src.write_text("a,b\n1,2\n3,4,5\n")
    panel = DatasetsPanel(ws)
    panel.create_button.click()
    wizard = panel.wizard
    wizard.name.value = "ragged"
    wizard.path.value = str(src)
    wizard.next_button.click()
    assert "ragged.csv: line 3 has 3 fields where the header has 2" in wizard.preview_message.text
    wizard.next_button.click()
    wizard.next_button.click()
    wizard.create_button.click()
    wizard.wait()
    assert "ragged.csv: line 3 has 3 fields" in wizard.status.text
    assert wizard.progress.layout.visibility == "hidden" and not wizard.create_button.disabled
    assert ws.data.list("ragged", include_archived=True) == []


def test_file_dataset_from_a_datastore_path_skips_the_parsing_steps(ws):
    (ws.path / "datastore" / "inbox").mkdir()
    (ws.path / "datastore" / "inbox" / "notes.txt").write_text("free text, not a table")
    panel = DatasetsPanel(ws)
    panel.create_button.click()
    wizard = panel.wizard
    wizard.source_kind.value = "datastore"
    assert wizard.datastore.value == "workspaceblobstore"
    wizard.datastore_path.value = "inbox/notes.txt"
    wizard.name.value = "notes"
    wizard.data_type.value = "file"
    wizard.next_button.click()
    assert wizard.step == 3
    wizard.create_button.click()
    wizard.wait()
    assert ws.data.get("notes").files == ["notes.txt"]
    assert "Files are kept as registered" in panel.page.preview.value and panel.page.profile_button.disabled


def test_sql_source_goes_from_query_to_schema(ws, tmp_path):
    import sqlalchemy as sa

    from studio_ext.entities import Datastore

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE orders (id INTEGER, total REAL, city TEXT)"))
        conn.execute(sa.text("INSERT INTO orders VALUES (1, 9.5, 'Oslo'), (2, 20.0, 'Rome')"))
    engine.dispose()
    ws.datastores.create_or_update(Datastore(name="shop", url=f"sqlite:///{tmp_path / 'shop.db'}"))
    panel = DatasetsPanel(ws)
    panel.create_button.click()
    wizard = panel.wizard
    wizard.source_kind.value = "sql"
    assert wizard.sql_datastore.value == "shop"
    wizard.query.value = "SELECT * FROM orders ORDER BY id"
    wizard.name.value = "orders"
    wizard.next_button.click()
    assert wizard.step == 2 and list(wizard.include) == ["id", "total", "city"]  # no delimiter settings for SQL
    assert "Oslo" in wizard.preview.value
    wizard.types["id"].value = "float"
    wizard.next_button.click()
    wizard.create_button.click()
    wizard.wait()
    assert wizard.status.text == "Registered orders version 1.", wizard.status.text
    data = ws.data.get("orders")
    assert data.source == "sql:shop" and [(c.name, c.type) for c in data.columns][0] == ("id", "float")
    assert "query=&#x27;SELECT * FROM orders ORDER BY id&#x27;" in panel.code.value


def test_the_only_dataset_opens_and_its_profile_tab_fills_itself(workspace, tmp_path):
    src = tmp_path / "only.csv"
    src.write_text("x,label\n" + "".join(f"{i * 0.5},{'ab'[i % 2]}\n" for i in range(100)))
    workspace.data.create_or_update(Data(name="only", path=str(src)))
    panel = DatasetsPanel(workspace)
    page = panel.page
    assert panel.selector.value == "only", "one dataset: the Open list is not left blank"
    assert page.layout.display == "" and page.data is not None and page.data.name == "only"
    assert "label" in page.preview.value
    assert page.profile_result is None  # computed only when the Profile tab is shown
    page.tabs.selected_index = 1  # no button to press
    page.wait()
    assert page.profile_result is not None and page.profile_result.row_count == 100
    assert page.profile_progress.layout.display == "none" and not page.profile_button.disabled
    assert page.histogram.outputs, "the first column's histogram is drawn"
    page.version.value = "1"  # unchanged: nothing recomputed, the cached profile stays
    assert page.profile_result is not None


def test_the_wizard_takes_a_file_uploaded_from_the_users_computer(ws):
    panel = DatasetsPanel(ws)
    wizard = panel.wizard
    panel.open_wizard()
    assert "relative to" in wizard.path.placeholder
    # What the browser's FileUpload sends: the name and the bytes.
    wizard.upload.value = ({"name": "my patients.csv", "type": "text/csv", "size": 24,
                            "content": memoryview(b"id,age\n1,34\n2,51\n3,67\n"),
                            "last_modified": datetime.now(UTC)},)
    saved = ws.path / "uploads" / "my patients.csv"
    assert saved.read_bytes().startswith(b"id,age") and wizard.path.value == str(saved)
    assert wizard.name.value == "my-patients" and "Uploaded my patients.csv" in wizard.message.text


def test_datastores_tab_lists_browses_and_registers_a_local_folder(ws, tmp_path):
    panel = DatasetsPanel(ws)
    assert panel.tabs.get_title(0) == "Data assets" and panel.tabs.get_title(1) == "Datastores"
    tab = panel.datastores
    assert "workspaceblobstore" in tab.table.value or tab.store.value, tab.table.value
    folder = tmp_path / "shared"
    (folder / "raw").mkdir(parents=True)
    (folder / "raw" / "a.csv").write_text("x\n1\n")
    tab.kind.value = "local"
    tab.new_name.value = "shared_folder"
    tab.folder.value = str(folder)
    created = tab.register()
    assert created is not None, tab.register_message.text
    assert tab.store.value == "shared_folder" and "shared_folder" in tab.table.value
    assert "raw/" in tab.files.value
    entries = tab.browse("raw")
    assert [e["name"] for e in entries] == ["a.csv"]
    assert "azureml://datastores/shared_folder/paths/raw/a.csv" in tab.files.value
    assert "list_paths('shared_folder', 'raw')" in panel.code.code
    tab.up_button.click()
    assert tab.browse_path.value == "" and "raw/" in tab.files.value
    tab.kind.value = "blob"
    assert tab.local_fields.layout.display == "none" and tab.cloud_fields.layout.display is None
    tab.new_name.value = "Bad Name"
    assert tab.register() is None and tab.register_message.kind == "error"
    ws.datastores.delete("shared_folder")


def test_sizes_read_as_bytes_kilobytes_and_megabytes():
    from studio_ext.panels.datasets import size_text

    assert (size_text(None), size_text(812), size_text(4_200), size_text(31_500_000)) == (
        "", "812 bytes", "4.2 KB", "31.5 MB")


def test_equivalent_python_follows_the_wizard_to_its_create_call(ws, tmp_path):
    """The code box shows the wizard's create call as it would be made, at every step, never the list."""
    src = tmp_path / "trees.csv"
    src.write_text("height;kind\n1,5;oak\n2,0;ash\n")
    panel = DatasetsPanel(ws)
    assert panel.code.code == "ws.data.list()"
    panel.create_button.click()
    wizard = panel.wizard
    assert "ws.data.create_or_update(Data(" in panel.code.code and "ws.data.list()" not in panel.code.code
    wizard.name.value = "trees"
    wizard.path.value = str(src)
    assert f"Data(name='trees', path={str(src)!r}, type='tabular')" in panel.code.code
    wizard.next_button.click()
    assert wizard.step == 1
    wizard.decimal.value = ","  # a setting changed on the way shows in the call at once
    assert "read_options={" in panel.code.code and "'decimal': ','" in panel.code.code
    wizard.next_button.click()
    wizard.include["kind"].value = False  # a left-out column too
    assert "'exclude': ['kind']" in panel.code.code, panel.code.code
    wizard.next_button.click()
    assert wizard.step == 3 and panel.code.code == wizard.code()
    wizard.create_button.click()
    wizard.wait()
    assert wizard.status.text == "Registered trees version 1.", wizard.status.text
    assert panel.code.code == wizard.code() and "ws.data.create_or_update(Data(name='trees'" in panel.code.code
    # closing the wizard for a dataset's page gives the box back to that page's action
    panel.show_dataset("trees")
    assert "ws.data.list()" not in panel.code.code
