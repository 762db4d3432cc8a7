"""``studio-ext data create | register | list | show | preview | profile | archive`` and
``studio-ext datastore create | list | show | delete``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from studio_ext.cli_groups import open_workspace, print_table
from studio_ext.cli_groups._actions import action_group
from studio_ext.cli_groups._files import add_file_arguments, add_output_argument, load, output_of, show
from studio_ext.cli_groups.jobs import _pairs  # the same KEY=VALUE parsing as `job submit --tag`
from studio_ext.entities import Data, Datastore
from studio_ext.entities._data import DelimitedReadOptions, redact_url
from studio_ext.errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:
    data = action_group(sub, "data", "register and inspect datasets")

    p = data.add_parser("create", help="register a data asset version from an Azure ML v2 YAML file (az ml data create)")
    add_file_arguments(p)
    p.add_argument("-n", "--name")
    p.add_argument("-v", "--version")
    p.add_argument("-p", "--path", help="the data's path, over the file's")
    p.set_defaults(func=_create)

    p = data.add_parser("register", help="register a new version of a dataset")
    p.add_argument("name")
    p.add_argument("path", nargs="?", help="a file, folder, URL or azureml://datastores/NAME/paths/PATH")
    p.add_argument("--type", default="tabular", choices=["tabular", "file", "folder", "mltable", "uri_file", "uri_folder"])
    p.add_argument("--datastore", help="a SQL datastore (with --query)")
    p.add_argument("--query", help="a SQL query to register as a table")
    p.add_argument("--version")
    p.add_argument("--description")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--delimiter", help="a single character; 'tab' for tabs (default: detected)")
    p.add_argument("--encoding")
    p.add_argument("--header", choices=["first_row", "all_files_same", "none"])
    p.add_argument("--quote-char")
    p.add_argument("--escape-char")
    p.add_argument("--skip-rows", type=int)
    p.add_argument("--decimal", choices=[".", ","])
    p.add_argument("--column-names", help="comma-separated names")
    p.add_argument("--column-type", action="append", default=[], metavar="COLUMN=TYPE")
    p.add_argument("--include", help="comma-separated columns to keep")
    p.add_argument("--exclude", help="comma-separated columns to drop")
    p.add_argument("--datetime-format", action="append", default=[], metavar="FORMAT", help="e.g. %%d/%%m/%%Y")
    p.set_defaults(func=_register)

    p = data.add_parser("list", help="datasets (latest versions), or the versions of one")
    p.add_argument("name", nargs="?")
    p.add_argument("--archived", action="store_true", help="include archived versions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_list)

    p = data.add_parser("show", help="a dataset version: source, schema, lineage")
    p.add_argument("name")
    p.add_argument("--version")
    p.add_argument("--json", action="store_true")
    add_output_argument(p)
    p.set_defaults(func=_show)

    p = data.add_parser("preview", help="the first rows")
    p.add_argument("name")
    p.add_argument("--version")
    p.add_argument("-n", type=int, default=20)
    p.set_defaults(func=_preview)

    p = data.add_parser("profile", help="per-column statistics (computed once, then cached)")
    p.add_argument("name")
    p.add_argument("--version")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_profile)

    p = data.add_parser("archive", help="hide a version (or all) from lists")
    p.add_argument("name")
    p.add_argument("--version")
    p.set_defaults(func=_archive)

    store = action_group(sub, "datastore", "register and list datastores")
    p = store.add_parser("create", help="register a datastore (file://, s3://, abfs://, gs://, http(s)://, SQL URL), "
                                        "or an Azure one from a v2 YAML file (--file)")
    p.add_argument("name", nargs="?")
    p.add_argument("url", nargs="?")
    add_file_arguments(p, required=False)
    p.add_argument("--credential", action="append", default=[], metavar="KEY=VALUE", help="e.g. key=..., secret=..., account_key=...")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="e.g. endpoint_url=http://...")
    p.add_argument("--description")
    p.set_defaults(func=_store_create)
    p = store.add_parser("list", help="list datastores")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_store_list)
    p = store.add_parser("show", help="a datastore (credentials shown as ***)")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    add_output_argument(p)
    p.set_defaults(func=_store_show)
    p = store.add_parser("delete", help="remove a datastore registration")
    p.add_argument("name")
    p.set_defaults(func=_store_delete)


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _options(given: dict[str, object] | None) -> DelimitedReadOptions | None:
    return DelimitedReadOptions.coerce(given) if given else None


def read_options_from(args: argparse.Namespace) -> dict[str, object] | None:
    """The read options given on the command line (only those given)."""
    delimiter = {"tab": "\t", "\\t": "\t"}.get(args.delimiter or "", args.delimiter)
    given = {
        "delimiter": delimiter, "encoding": args.encoding, "header": args.header, "quote_char": args.quote_char,
        "escape_char": args.escape_char, "skip_rows": args.skip_rows, "decimal": args.decimal,
        "column_names": _split(args.column_names), "column_types": _pairs(args.column_type, "column-type") or None,
        "include": _split(args.include), "exclude": _split(args.exclude),
        "datetime_formats": args.datetime_format or None,
    }
    options = {k: v for k, v in given.items() if v is not None}
    return options or None


def _create(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    ws = open_workspace(args)
    data = load(args, Data, "data", name=args.name, version=args.version, path=args.path).entity
    with tqdm(total=0, unit="B", unit_scale=True, desc=f"create {data.name}", leave=False) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        registered = ws.data.create_or_update(data, progress=progress)
    print(f"Registered data {registered.name}:{registered.version} ({registered.type}, {registered.source})")
    return 0


def _register(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    ws = open_workspace(args)
    data = Data(name=args.name, path=args.path, type=args.type, version=args.version, description=args.description,
                tags=_pairs(args.tag, "tag"), datastore=args.datastore, query=args.query,
                read_options=_options(read_options_from(args)))
    with tqdm(total=0, unit="B", unit_scale=True, desc=f"register {args.name}", leave=False) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        registered = ws.data.create_or_update(data, progress=progress)
    rows = registered.row_count if registered.row_count is not None else '-'
    print(f"Registered {registered.name} version {registered.version}: {rows} rows, "
          f"{len(registered.columns)} columns ({registered.local_path})")
    print(f"Use it in a job as Input(type='mltable', path='{registered.reference}')")
    return 0


def _row(d: Data) -> dict[str, object]:
    return {"name": d.name, "version": d.version, "type": str(d.type), "rows": d.row_count,
            "columns": len(d.columns) or None, "created": d.creation_time.strftime("%Y-%m-%d %H:%M:%S") if d.creation_time else None,
            "archived": d.archived or None, "source": d.source}


def _list(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    rows = [_row(d) for d in ws.data.list(args.name, include_archived=args.archived)]
    if args.json:
        print(json.dumps(rows, default=str, indent=1))
    else:
        print_table(rows, ["name", "version", "type", "rows", "columns", "created", "archived", "source"])
    return 0


def _show(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    d = ws.data.get(args.name, args.version)
    consumers = ws.data.list_consumers(d.name, d.version)
    info = {**_row(d), "description": d.description, "tags": d.tags, "path": d.path, "local_path": d.local_path,
            "files": d.files, "query": d.query, "datastore": d.datastore,
            "read_options": d.read_options.to_dict() if d.read_options else None,
            "schema": {c.name: c.type for c in d.columns},
            "consumers": [f"{c.job_name} ({c.status}, input {c.input_name})" for c in consumers]}
    show(d, info, output_of(args), ws.data.to_yaml)
    return 0


def _preview(args: argparse.Namespace) -> int:
    import pandas as pd

    ws = open_workspace(args)
    frame = ws.data.preview(args.name, args.version, n=args.n)
    with pd.option_context("display.max_columns", 50, "display.width", 200):
        print(frame.to_string(index=False))
    return 0


def _profile(args: argparse.Namespace) -> int:
    import pandas as pd

    ws = open_workspace(args)
    profile = ws.data.profile(args.name, args.version)
    frame = profile.to_frame()
    if args.json:
        print(frame.to_json(orient="records", indent=1, default_handler=str))
        return 0
    print(f"{profile.row_count} rows")
    with pd.option_context("display.max_columns", 50, "display.width", 250):
        print(frame.to_string(index=False))
    return 0


def _archive(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    ws.data.archive(args.name, args.version)
    print(f"Archived {args.name}" + (f" version {args.version}" if args.version else " (all versions)"))
    return 0


def _store_row(d: Datastore) -> dict[str, object]:
    return {"name": d.name, "type": str(d.type), "url": redact_url(d.url), "default": d.is_default or None,
            "credentials": ", ".join(f"{k}=***" for k in d.credentials) or None, "description": d.description}


def _store_create(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    if args.file:
        datastore = load(args, Datastore, "datastore", name=args.name).entity
    elif args.name and args.url:
        datastore = Datastore(name=args.name, url=args.url, description=args.description,
                              credentials=_pairs(args.credential, "credential"), options=_pairs(args.option, "option"))
    else:
        raise InvalidInput("studio-ext datastore create takes NAME URL, or --file datastore.yml (Azure ML v2 YAML).")
    ds = ws.datastores.create_or_update(datastore)
    print(f"Registered datastore {ds.name} ({ds.type}) at {redact_url(ds.url)}")
    return 0


def _store_list(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    rows = [_store_row(d) for d in ws.datastores.list()]
    if args.json:
        print(json.dumps(rows, default=str, indent=1))
    else:
        print_table(rows, ["name", "type", "url", "default", "credentials"])
    return 0


def _store_show(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    ds = ws.datastores.get(args.name)
    info = {**_store_row(ds), "options": ds.options, "tags": ds.tags}
    if ds.credentials and output_of(args) == "yaml":
        # As az ml datastore show: secrets are not printed (Python's ws.datastores.to_yaml writes them).
        ds = dataclasses.replace(ds, credentials={k: "***" for k in ds.credentials})
        print("note: credentials are shown as ***; ws.datastores.to_yaml(ws.datastores.get(NAME)) writes them",
              file=sys.stderr)
    show(ds, info, output_of(args), ws.datastores.to_yaml)
    return 0


def _store_delete(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    ws.datastores.delete(args.name)
    print(f"Deleted datastore {args.name}")
    return 0
