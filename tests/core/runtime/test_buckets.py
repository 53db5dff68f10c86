"""Batch-size buckets: which sizes exist, which bucket a batch goes to, and that padding is invisible."""

import torch

from core.runtime import batch_buckets, bucket_for, pad_batch, run_bucketed, warm_up


def test_buckets_are_powers_of_two_up_to_the_maximum():
    assert batch_buckets(32) == (1, 2, 4, 8, 16, 32)
    assert batch_buckets(24) == (1, 2, 4, 8, 16, 24), "the maximum itself is always a bucket"
    assert batch_buckets(1) == (1,) and batch_buckets(0) == (1,)


def test_a_batch_goes_to_the_smallest_bucket_that_holds_it():
    buckets = batch_buckets(32)
    assert [bucket_for(n, buckets) for n in (1, 2, 3, 5, 8, 9, 17, 32)] == [1, 2, 4, 8, 8, 16, 32, 32]
    assert bucket_for(40, buckets) == 40, "above the largest bucket a batch runs as it is"


def test_padding_rows_are_zeros_and_never_come_back():
    x = torch.arange(3 * 2, dtype=torch.float32).reshape(3, 2)
    padded = pad_batch(x, 4)
    assert padded.shape == (4, 2) and torch.equal(padded[:3], x) and not padded[3].any()
    assert pad_batch(x, 3) is x
    seen = []
    out = run_bucketed(lambda t: seen.append(t.shape[0]) or t * 2, x, batch_buckets(8))
    assert seen == [4] and torch.equal(out, x * 2)


def test_warm_up_runs_every_bucket_once_largest_first():
    seen = []
    warm_up(lambda t: seen.append(tuple(t.shape)) or t, (6, 8), batch_buckets(8))
    assert seen == [(8, 3, 8, 6), (4, 3, 8, 6), (2, 3, 8, 6), (1, 3, 8, 6)]
