#!/usr/bin/python3
"""A cluster-aware client that writes while a cluster changes, then checks every write.

Usage: cluster-writer.py --seed IP:PORT [--seed ...] [--preload N] --stop-file FILE
                         [--prefix P] [--state FILE]

Writes keys through redis-py's RedisCluster (which follows MOVED and ASK as any
cluster-aware client does) until FILE exists: first N keys, then new keys and overwrites of
earlier ones, each value larger than the last for its key. Only acknowledged writes are
recorded. Afterwards every key is read back (retrying while the cluster settles), and one
JSON object goes to stdout:

  {"acknowledged": writes acknowledged, "keys": distinct keys, "lost": keys whose value is
   older than the last acknowledged one (or missing), "errors": writes the client saw fail,
   "read_errors": reads that still failed after retries}

On stderr, "preloaded" once the first N keys are written, so a caller can start its change.

With --state FILE, the check covers a whole history of runs, not one: the keys and values
acknowledged by earlier runs are loaded from FILE (a JSON object, key to value; absent at
first), counting goes on above their largest value, overwrites pick among them, every one of
them is read back with this run's own, and the merged map is saved to FILE again. "lost" then
counts keys of the whole history, and "lost_keys" names a few of them with the value expected
and the value read (null when missing). A caller may add keys of its own to FILE between runs,
with integer values it wrote itself.
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


def connected(seeds):
    """A client, once the cluster lets one start: right after a host died, its nodes still
    appear in every slot map until Redis has failed them over, and redis-py's start-up gives up
    on them; so it is asked again for up to 30 s."""
    until = time.monotonic() + 30
    while True:
        try:
            return client(seeds)
        except Exception:  # pylint: disable=broad-except
            if time.monotonic() >= until:
                raise
            time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", action="append", required=True)
    parser.add_argument("--preload", type=int, default=0)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--prefix", default="w")
    parser.add_argument("--state")
    args = parser.parse_args()

    rc = connected(args.seed)
    acked = load(args.state)
    # Earlier runs' keys are overwritten too, so a key moving between nodes is also written.
    earlier = sorted(acked)
    counter = max(acked.values(), default=0)
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
        if i % 2 == 0 and earlier:
            write(earlier[(i * 7919) % len(earlier)])
        elif i % 2 == 0 and acked:
            write(f"{args.prefix}:{i % max(args.preload, 1)}")

    lost, lost_keys, read_errors = check(rc, acked)
    if args.state:
        save(args.state, acked)
    print(json.dumps({
        "acknowledged": written,
        "keys": len(acked),
        "lost": lost,
        "lost_keys": lost_keys,
        "errors": errors,
        "read_errors": read_errors,
    }))


def load(path):
    """The acknowledged map of earlier runs, empty without a state file."""
    if not path or not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return {key: int(value) for key, value in json.load(f).items()}


def save(path, acked):
    """Replaces the state file whole, so a run killed while saving leaves the old map."""
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(acked, f)
    os.replace(path + ".tmp", path)


def check(rc, acked):
    """Reads every acknowledged key back: (lost, a few lost keys, keys that could not be read).

    Keys are read in batches (one pipeline per node); a batch that fails, as while the cluster
    settles, is read again key by key, each retried until 30 s have passed in all. After that a
    failing batch is not read key by key: a broken cluster fails each read slowly, and its
    keys are counted as unreadable (not as lost) at once."""
    lost = 0
    lost_keys = []
    read_errors = 0
    deadline = time.time() + 30
    keys = list(acked)
    for start in range(0, len(keys), 500):
        batch = keys[start:start + 500]
        try:
            values = rc.mget_nonatomic(batch)
        except Exception:  # pylint: disable=broad-except
            if time.time() > deadline:
                read_errors += len(batch)
                continue
            values = []
            for key in batch:
                got, failed = read(rc, key, deadline)
                read_errors += failed
                values.append(False if failed else got)
        for key, got in zip(batch, values):
            if got is False:
                continue
            if got is None or int(got) < acked[key]:
                lost += 1
                if len(lost_keys) < 10:
                    lost_keys.append([key, acked[key], None if got is None else int(got)])
    return lost, lost_keys, read_errors


def read(rc, key, deadline):
    """One key's value, retried until the deadline: (value or None, 1 when it kept failing)."""
    while True:
        try:
            return rc.get(key), 0
        except Exception:  # pylint: disable=broad-except
            if time.time() > deadline:
                return None, 1
            time.sleep(0.05)


if __name__ == "__main__":
    main()
