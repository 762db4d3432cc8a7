"""Prepare the diabetes table for training: drop incomplete rows, write a Parquet file into the output folder.

This script knows nothing of studio_ext: it runs unchanged as an Azure ML pipeline step.
"""

import argparse
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_diabetes

parser = argparse.ArgumentParser()
parser.add_argument("--data", help="a Parquet table with the diabetes columns (optional)")
parser.add_argument("--prepared", required=True, help="the output folder")
args = parser.parse_args()

table = pd.read_parquet(args.data) if args.data else load_diabetes(as_frame=True).frame
before = len(table)
table = table.dropna()
Path(args.prepared).mkdir(parents=True, exist_ok=True)
table.to_parquet(Path(args.prepared) / "diabetes.parquet", index=False)
print(f"prepared {len(table)} of {before} rows")
