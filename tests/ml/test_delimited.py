"""The CSV engine alone: delimiter detection, previews of a sample, streaming with small blocks."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from studio_ext.entities import DelimitedReadOptions
from studio_ext.errors import InvalidInput
from studio_ext.ml.delimited import (
    TextSource,
    convert_to_parquet,
    preview_bytes,
    sniff_delimiter,
)


@pytest.mark.parametrize("sample, expected", [
    ("a,b,c\n1,2,3\n", ","), ("a;b\n1,5;2\n", ";"), ("a\tb\n1\t2\n", "\t"), ("a|b|c\nx|y|z\n", "|"),
    ('name,quote\nx,"a;b;c;d"\n', ","), ("single\n1\n2\n", ","),
])
def test_sniff_delimiter(sample, expected):
    assert sniff_delimiter(sample) == expected


def test_preview_of_a_cut_sample_keeps_whole_rows():
    data = b"a,b\n" + b"".join(b"%d,x\n" % i for i in range(50)) + b"50,trunc"
    table, delimiter = preview_bytes(data, "s.csv", DelimitedReadOptions(), n=5)
    assert delimiter == "," and table.num_rows == 5 and table.column("a").to_pylist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_preview_of_a_sample_cut_mid_row_drops_the_partial_row(encoding):
    text = "a,b,c\n" + "".join(f"{i},x,{i * 2}\n" for i in range(50)) + "50,tru"
    table, _ = preview_bytes(text.encode(encoding), "s.csv", DelimitedReadOptions(encoding=encoding), n=60,
                             truncated=True)
    assert table.num_rows == 50 and table.column("c").to_pylist()[-1] == 98


def test_preview_of_a_whole_file_without_a_final_newline_keeps_its_last_row():
    table, _ = preview_bytes(b"a,b,c\n1,x,2\n3,y,4", "s.csv", DelimitedReadOptions(), n=20)
    assert table.column("a").to_pylist() == [1, 3]


def test_streaming_many_small_blocks_gives_every_row(tmp_path):
    src = tmp_path / "many.csv"
    src.write_text("k,v\n" + "".join(f"{i},{i % 7}\n" for i in range(50_000)))
    seen = []
    result = convert_to_parquet([TextSource.of(src)], tmp_path / "out.parquet", DelimitedReadOptions(),
                                progress=seen.append, block_size=1 << 14)
    assert result.row_count == 50_000 and sum(seen) == src.stat().st_size
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups > 10  # written as it was read
    assert pq.read_table(tmp_path / "out.parquet").column("k").to_pylist()[-1] == 49_999


def test_first_row_header_then_headerless_files(tmp_path):
    (tmp_path / "1.csv").write_text("a,b\n1,2\n")
    (tmp_path / "2.csv").write_text("3,4\n")
    sources = [TextSource.of(tmp_path / "1.csv"), TextSource.of(tmp_path / "2.csv")]
    convert_to_parquet(sources, tmp_path / "o.parquet", DelimitedReadOptions(header="first_row"))
    assert pq.read_table(tmp_path / "o.parquet").to_pydict() == {"a": [1, 3], "b": [2, 4]}
    with pytest.raises(InvalidInput, match="There is no file to parse"):
        convert_to_parquet([], tmp_path / "x.parquet", DelimitedReadOptions())


@pytest.mark.parametrize("options, message", [
    ({"delimiter": ";;"}, "'delimiter' read option must be a single character"),
    ({"decimal": ",", "delimiter": ","}, "use delimiter=';' for European numbers"),
    ({"skip_rows": -1}, "'skip_rows' read option must be a whole number >= 0"),
    ({"column_names": ["a", "a"]}, "names 'a' twice"),
    ({"header": "sometimes"}, "'header' read option must be 'first_row', 'all_files_same' or 'none'"),
])
def test_option_values_are_checked(options, message):
    with pytest.raises(InvalidInput, match=message):
        DelimitedReadOptions.coerce(options)


@pytest.mark.parametrize("tail_rows", [99_999, 60_000])  # the open field past, and within, csv's field limit
def test_an_unclosed_quote_names_its_line_and_says_what_to_check(tmp_path, tail_rows):
    src = tmp_path / "q.csv"
    rows = ["a,b,c"] + [f"{i},x,{i}" for i in range(1, tail_rows + 1)]
    rows[49_999] = '49999,"oops,49999'  # line 50,000 opens a quote that nothing closes
    src.write_text("\n".join(rows) + "\n")
    with pytest.raises(InvalidInput) as info:
        convert_to_parquet([TextSource.of(src)], tmp_path / "o.parquet", DelimitedReadOptions())
    message = str(info.value)
    assert "q.csv: a quote opened on line 50000 is never closed" in message
    assert "'quote_char'" in message and "'escape_char'" in message


def test_a_closed_multiline_value_in_a_short_row_is_not_called_an_open_quote(tmp_path):
    src = tmp_path / "m.csv"
    src.write_text('a,b,c\n1,x,1\n2,"two\nlines"\n3,x,3\n')
    with pytest.raises(InvalidInput, match=r"m.csv: line 3 has 2 fields where the header has 3"):
        convert_to_parquet([TextSource.of(src)], tmp_path / "o.parquet", DelimitedReadOptions())
