#!/usr/bin/python3
"""A cluster-aware client that writes while a cluster changes, then checks every write.

Usage: cluster-writer.py --seed IP:PORT [--seed ...] [--preload N] --stop-file FILE

Writes keys through redis-py's RedisCluster (which follows MOVED and ASK as any
cluster-aware client does) until FILE exists: first N keys, then new keys and overwrites of
earlier ones, each value larger than the last for its key. Only acknowledged writes are
recorded. Afterwards every key is read back (retrying while the cluster settles), and one
JSON object goes to stdout:

  {"acknowledged": writes acknowledged, "keys": distinct keys, "lost": keys whose value is
   older than the last acknowledged one (or missing), "errors": writes the client saw fail,
   "read_errors": reads that still failed after retries}

On stderr, "preloaded" once the first N keys are written, so a caller can start its change.
"""

import argparse
import json
import os
import sys
import time

from redis.cluster import ClusterNode, RedisCluster


def client(seeds):
    nodes = []
    for seed in seeds:
        host, port = seed.rsplit(":", 1)
        nodes.append(ClusterNode(host, int(port)))
    return RedisCluster(
        startup_nodes=nodes,
        socket_timeout=2,
        socket_connect_timeout=1,
        cluster_error_retry_attempts=2,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", action="append", required=True)
    parser.add_argument("--preload", type=int, default=0)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--prefix", default="w")
    args = parser.parse_args()

    rc = client(args.seed)
    acked = {}
    counter = 0
    errors = 0
    written = 0

    def write(key):
        nonlocal counter, errors, written
        counter += 1
        try:
            rc.set(key, counter)
        # Not only RedisError: redis-py 4.3 also fails with AttributeError when an ASK
        # redirection names a node it has not learned yet. Either way the write is not
        # acknowledged.
        except Exception:  # pylint: disable=broad-except
            errors += 1
            time.sleep(0.01)
            return
        acked[key] = counter
        written += 1

    for i in range(args.preload):
        write(f"{args.prefix}:{i}")
    print("preloaded", file=sys.stderr, flush=True)
    i = 0
    while not os.path.exists(args.stop_file):
        # Two new keys, then an overwrite of an older one.
        write(f"{args.prefix}:n{i}")
        i += 1
        if i % 2 == 0 and acked:
            write(f"{args.prefix}:{i % max(args.preload, 1)}")

    lost = 0
    read_errors = 0
    deadline = time.time() + 30
    for key, value in acked.items():
        while True:
            try:
                got = rc.get(key)
                break
            except Exception:  # pylint: disable=broad-except
                if time.time() > deadline:
                    got = None
                    read_errors += 1
                    break
                time.sleep(0.05)
        if got is None or int(got) < value:
            lost += 1
    print(json.dumps({
        "acknowledged": written,
        "keys": len(acked),
        "lost": lost,
        "errors": errors,
        "read_errors": read_errors,
    }))


if __name__ == "__main__":
    main()
