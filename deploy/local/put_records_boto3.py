"""The tutorial's stream writer done right, in Python: boto3 `put_records` of JSON records (the
kit's stream record: the features by name, plus series, row and timestamp), 10 rows per call.

Usage: put_records_boto3.py ENDPOINT_URL STREAM CSV LIMIT
Credentials come from the default chain (environment, profile, role); nothing is hard-coded.
Prints one JSON line: {"sent": N, "failed": N}.
"""
import csv
import json
import sys

import boto3

endpoint, stream, path, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1")

with open(path, newline="") as f:
    reader = csv.reader(f)
    header = next(reader)
    rows = [r for _, r in zip(range(limit), reader)]

sent = failed = 0
for start in range(0, len(rows), 10):
    entries = []
    for i, row in enumerate(rows[start:start + 10], start):
        record = {name: float(v) for name, v in zip(header[1:], row[1:])}
        record.update(series="boto3", row=i, timestamp=row[0])
        entries.append({"Data": json.dumps(record).encode(), "PartitionKey": "boto3"})
    answer = client.put_records(StreamName=stream, Records=entries)
    failed += answer["FailedRecordCount"]
    sent += len(entries) - answer["FailedRecordCount"]
print(json.dumps({"sent": sent, "failed": failed}))
