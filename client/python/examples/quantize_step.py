#!/usr/bin/env python3
"""A pipeline step (an Airflow task, a Kubeflow component, a cron script): quantize a model on a
Quench cluster and fail the step when the quantized model is not good enough.

  quantize_step.py --server quenchd:7070 --token-file /etc/quench/token \\
      --model /models/llama --preset gptq-w4g128 --calib /models/calib.jsonl \\
      --eval /models/eval.jsonl --out /outputs/llama-gptq \\
      --max-kl-divergence 0.05 --min-top1 0.9 --max-perplexity-increase 5 \\
      --metrics-out /outputs/metrics.json

It submits with a request id derived from its inputs (or --request-id), so a retried step
follows the job already running or done instead of quantizing again (a job that ended FAILED or
CANCELLED is submitted again under a new id); watches it, printing a
line per block; downloads every artifact (sha256-checked, resumed after an interruption);
writes the accuracy figures as JSON for the pipeline's metrics; and exits
  0  the job succeeded and every threshold holds
  3  the job failed      4  the job was cancelled     5  the coordinator is unreachable
  6  the token is wrong  2  bad request (recipe, paths)
  8  the job succeeded but a threshold does not hold (the artifacts are downloaded anyway)
"""
import argparse
import hashlib
import json
import math
import pathlib
import sys

import quench_client
from quench_client import QuenchClient

EXIT_CODES = [(quench_client.InvalidRequest, 2), (quench_client.NotFound, 2),
              (quench_client.AlreadyExists, 2), (quench_client.JobFailed, 3),
              (quench_client.JobCancelled, 4), (quench_client.Unavailable, 5),
              (quench_client.AuthError, 6)]
EXIT_THRESHOLD = 8


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="quenchd HOST:PORT (default $QUENCH_SERVER)")
    parser.add_argument("--token-file", help="bearer token file (default $QUENCH_TOKEN_FILE)")
    parser.add_argument("--tls-ca", help="PEM root certificate: connect over TLS")
    parser.add_argument("--model", required=True, help="model directory, as quenchd sees it")
    recipe = parser.add_mutually_exclusive_group(required=True)
    recipe.add_argument("--preset", help="a built-in recipe (quench recipe list)")
    recipe.add_argument("--recipe", type=pathlib.Path, help="a recipe file (YAML or JSON)")
    parser.add_argument("--calib", help="calibration data, as quenchd sees it")
    parser.add_argument("--eval", help="evaluation data (needed for the thresholds)")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="download directory")
    parser.add_argument("--request-id", help="idempotency key (default: a hash of the inputs)")
    parser.add_argument("--max-kl-divergence", type=float, help="nats per token")
    parser.add_argument("--min-top1", type=float, help="top-1 agreement, 0..1")
    parser.add_argument("--max-perplexity-increase", type=float, help="percent over the original")
    parser.add_argument("--metrics-out", type=pathlib.Path, help="write the figures here (JSON)")
    return parser.parse_args(argv)


def default_request_id(args, recipe_text):
    inputs = json.dumps([args.model, args.preset, recipe_text, args.calib, args.eval])
    return "step-" + hashlib.sha256(inputs.encode()).hexdigest()[:24]


def _number(evaluation, key):
    """The figure, or None when absent or not finite (report.json writes NaN as null)."""
    value = evaluation.get(key)
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def threshold_failures(args, evaluations):
    """What does not hold, as sentences; empty when every threshold holds.

    evaluations: {label: figures} — the job's evaluation and, when a GGUF was solved on its own
    grids, the GGUF's too; every one must pass."""
    wanted = [args.max_kl_divergence, args.min_top1, args.max_perplexity_increase]
    if all(value is None for value in wanted):
        return []
    if not evaluations:
        return ["the job was not evaluated (give --eval) so no threshold can be checked"]
    failures = []
    for label, evaluation in evaluations.items():
        kl = _number(evaluation, "kl_divergence")
        top1 = _number(evaluation, "top1_agreement")
        ppl = _number(evaluation, "perplexity")
        reference = _number(evaluation, "reference_perplexity")
        increase = 100 * (ppl / reference - 1) if ppl is not None and reference else None
        checks = [(args.max_kl_divergence, kl, "KL divergence", lambda v, t: v <= t, ".5f"),
                  (args.min_top1, top1, "top-1 agreement", lambda v, t: v >= t, ".4f"),
                  (args.max_perplexity_increase, increase, "perplexity increase (%)",
                   lambda v, t: v <= t, ".2f")]
        for threshold, value, name, holds, fmt in checks:
            if threshold is None:
                continue
            if value is None:
                failures.append(f"{label}: {name} is missing or not a number")
            elif not holds(value, threshold):
                failures.append(f"{label}: {name} {value:{fmt}} misses {threshold}")
    return failures


def submit_fresh(quench, args, recipe_text, request_id):
    """Submits; a job that already ended FAILED or CANCELLED under this request id (an earlier
    try of this step) is not the answer: the next id in the chain gets a new job."""
    for _ in range(20):
        job = quench.submit(args.model, preset=args.preset, recipe=recipe_text, calib=args.calib,
                            eval=args.eval, request_id=request_id)
        if job.state not in (quench_client.FAILED, quench_client.CANCELLED):
            return job, request_id
        print(f"quantize_step: job {job.job_id} under {request_id} ended {job.state}; "
              "submitting again", flush=True)
        request_id = f"{request_id}-after-{job.job_id}"
    raise quench_client.InvalidRequest("20 earlier tries of this step failed; giving up")


def run(args):
    recipe_text = args.recipe.read_text() if args.recipe else None
    request_id = args.request_id or default_request_id(args, recipe_text)
    with QuenchClient(args.server, token_file=args.token_file, tls_ca=args.tls_ca) as quench:
        job, request_id = submit_fresh(quench, args, recipe_text, request_id)
        print(f"quantize_step: job {job.job_id} ({job.state}, request id {request_id})",
              flush=True)

        def show(event):
            job = event.job
            print(f"quantize_step: {job.state} {job.finished_blocks}/{job.total_blocks} blocks"
                  f" {event.message}", flush=True)

        job = quench.wait(job.job_id, on_event=show)
        downloaded = quench.download(job.job_id, args.out)
        print(f"quantize_step: {len(downloaded)} artifacts in {args.out}", flush=True)

    evaluation = job.evaluation
    evaluations = {"model": evaluation} if evaluation else {}
    if (job.report or {}).get("gguf_evaluation"):
        evaluations["gguf"] = job.report["gguf_evaluation"]
    metrics = {"job_id": job.job_id, "evaluation": evaluation,
               "gguf_evaluation": evaluations.get("gguf"),
               "artifacts": {a.name: a.sha256 for a in job.artifacts}}
    if args.metrics_out:
        args.metrics_out.parent.mkdir(parents=True, exist_ok=True)
        temporary = args.metrics_out.with_name(args.metrics_out.name + ".tmp")
        temporary.write_text(json.dumps(metrics, indent=2) + "\n")
        temporary.replace(args.metrics_out)
    failures = threshold_failures(args, evaluations)
    if failures:
        print("quantize_step: below the bar: " + "; ".join(failures), file=sys.stderr)
        return EXIT_THRESHOLD
    for label, figures in evaluations.items():
        print(f"quantize_step: {label} passed: KL {figures['kl_divergence']}, top-1 "
              f"{figures['top1_agreement']}, perplexity {figures['perplexity']} "
              f"(original {figures['reference_perplexity']})")
    return 0


def main(argv=None):
    args = parse_args(argv)
    try:
        return run(args)
    except quench_client.QuenchError as error:
        print(f"quantize_step: {error}", file=sys.stderr)
        for kind, code in EXIT_CODES:
            if isinstance(error, kind):
                return code
        return 1


if __name__ == "__main__":
    sys.exit(main())
