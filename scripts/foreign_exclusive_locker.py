# BENCHMARKS.md, issue #11 (adaptive batching): a foreign process taking EXCLUSIVE locks on the file: every ~1 s (0.8-1.2 s), hold BEGIN EXCLUSIVE
# for 50-200 ms, then roll back. Fixed seed, so each run sees the same pattern. Prints holds taken.
import random, sqlite3, sys, time
db, seconds = sys.argv[1], float(sys.argv[2])
rng = random.Random(11)
end = time.monotonic() + seconds
held, total = 0, 0.0
while time.monotonic() < end:
    time.sleep(rng.uniform(0.8, 1.2))
    hold = rng.uniform(0.05, 0.2)
    c = sqlite3.connect(db, timeout=10, isolation_level=None)
    try:
        c.execute("BEGIN EXCLUSIVE")
        time.sleep(hold)
        c.execute("ROLLBACK")
        held += 1; total += hold
    except sqlite3.OperationalError as e:
        print("locker:", e, file=sys.stderr)
    finally:
        c.close()
print(f"locker: {held} holds, {total:.2f} s held")
