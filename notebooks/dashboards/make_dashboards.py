"""Write one Voila dashboard notebook per studio page: ``python notebooks/dashboards/make_dashboards.py``.

Each notebook holds a single cell that shows the page's panel; Voila hides the code.
Run it again when a page is added (the test suite checks every page has one).
"""

from pathlib import Path

import nbformat

from studio_ext.panels import PAGES


def main() -> None:
    here = Path(__file__).parent
    for page in PAGES.values():
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["title"] = f"Studio: {page.title}"
        nb.cells = [nbformat.v4.new_code_cell(f'from studio_ext.panels.dashboard import show\n\nshow("{page.id}")')]
        nbformat.write(nb, here / f"{page.id}.ipynb")
        print("wrote", here / f"{page.id}.ipynb")


if __name__ == "__main__":
    main()
