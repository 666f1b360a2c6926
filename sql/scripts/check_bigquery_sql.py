"""Parses every SQL file dbt compiled for the BigQuery target with sqlglot's BigQuery dialect.

There is no BigQuery emulator: this is how CI knows the `prod` SQL is valid BigQuery. Usage:
    python sql/scripts/check_bigquery_sql.py TARGET_DIR [TARGET_DIR ...]
where TARGET_DIR is a dbt target path after `dbt compile --target prod`. Exits 1 listing every file that fails.
"""

import pathlib
import sys

import sqlglot
from sqlglot.errors import ErrorLevel, ParseError

# Functions that only exist in DuckDB: the dispatched macros must never leave them in BigQuery SQL.
DUCKDB_ONLY = ("json_extract_string(", "try_cast(", "arg_max(", "arg_min(", "epoch_ms(", "timestamptz", "read_parquet(")


def check(path: pathlib.Path) -> list[str]:
    sql = path.read_text()
    problems = []
    try:
        statements = [s for s in sqlglot.parse(sql, read="bigquery", error_level=ErrorLevel.RAISE) if s is not None]
        if not statements:
            problems.append("no statement")
    except ParseError as err:
        problems.append(str(err).splitlines()[0])
    lowered = sql.lower()
    problems += [f"DuckDB-only SQL: {token}" for token in DUCKDB_ONLY if token in lowered]
    return problems


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    files = []
    for target in argv:
        compiled = pathlib.Path(target) / "compiled"
        if not compiled.is_dir():
            print(f"{compiled}: missing (run dbt compile --target prod first)", file=sys.stderr)
            return 2
        files += sorted(compiled.rglob("*.sql"))
    failures = 0
    for path in files:
        problems = check(path)
        if problems:
            failures += 1
            for problem in problems:
                print(f"FAIL {path}: {problem}")
    print(f"checked {len(files)} compiled files with sqlglot (bigquery): {failures} failed")
    return 1 if failures or not files else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
