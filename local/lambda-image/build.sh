#!/usr/bin/env bash
# A stand-in for AWS's python3.13 arm64 Lambda base image, for `sam local ... --invoke-image` where
# AWS's image cannot be pulled (this repository's CI reaches no registry but the package ones).
# Users of `sam local` get AWS's official image (public.ecr.aws/lambda/python:3.13); this one only
# lets the repository test offline.
#
# Debian trixie's Python 3.13 (a debootstrap root file system, arm64, built under qemu-user-static),
# AWS's runtime interface client (awslambdaric) and the runtime's boto3 in /var/runtime, a
# /var/runtime/bootstrap that starts the client with the function's handler, /var/task and /opt.
# SAM CLI adds its own aws-lambda-rie on top. The root file system is cached by recipe (what goes
# into it), so that later runs only build the image from it, or find the image up to date.
#
#   local/lambda-image/build.sh [IMAGE]      (needs root for debootstrap, and a running Docker)
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE="${1:-payments-lambda-standin:python3.13-arm64}"
CACHE="${LAMBDA_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/payments-lambda-image}"
PYTHON="${PYTHON:-.venv/bin/python}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# The runtime's boto3 as the tests pin it; the runtime interface client of AWS's python3.13 images.
BOTO3="$(grep -E '^boto3==' requirements-dev.txt | cut -d' ' -f1)"
RIC="awslambdaric==4.2.2"
# What AWS's python3.13 image runs: the runtime interface client with the function's handler; the
# function's code and the layers (/opt/python) importable, then the runtime's own packages.
BOOTSTRAP='#!/bin/sh
export PYTHONPATH="/var/task:/opt/python:/var/runtime"
exec /usr/bin/python3 -m awslambdaric "${_HANDLER:-$AWS_LAMBDA_FUNCTION_HANDLER}"'
SUITE="trixie"
# The root file system is rebuilt only when what goes into it changes.
RECIPE="$(echo "$SUITE arm64 minbase python3 $RIC $BOTO3 $BOOTSTRAP" | sha256sum | cut -c1-16)"

if [ "$(docker image inspect "$IMAGE" --format '{{index .Config.Labels "recipe"}}' 2>/dev/null)" = "$RECIPE" ]; then
  echo "$IMAGE is up to date (recipe $RECIPE)"
  exit 0
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$CACHE/rootfs-$RECIPE.tar"
if [ ! -f "$ROOTFS" ]; then
  mkdir -p "$CACHE"
  rm -f "$CACHE"/rootfs-*.tar  # earlier recipes'
  echo "debootstrap $SUITE arm64 (under qemu: several minutes)..."
  debootstrap --arch=arm64 --variant=minbase --include=python3 "$SUITE" "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -30 "$WORK/debootstrap.log"; exit 1; }
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-warn-script-location --target "$WORK/rootfs/var/runtime" \
    --platform manylinux2014_aarch64 --python-version 3.13 --implementation cp --only-binary=:all: "$RIC" "$BOTO3"
  printf '%s\n' "$BOOTSTRAP" >"$WORK/rootfs/var/runtime/bootstrap"
  chmod 755 "$WORK/rootfs/var/runtime/bootstrap"
  mkdir -p "$WORK/rootfs/var/task" "$WORK/rootfs/opt"
  rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
  tar -C "$WORK/rootfs" -cf "$ROOTFS.part" . && mv "$ROOTFS.part" "$ROOTFS"
  rm -rf "$WORK/rootfs"
fi

# `docker import` would label the image with the host's architecture; a build from scratch says arm64.
CONTEXT="$WORK/context"
mkdir "$CONTEXT"
ln "$ROOTFS" "$CONTEXT/rootfs.tar" 2>/dev/null || cp "$ROOTFS" "$CONTEXT/rootfs.tar"
cat >"$CONTEXT/Dockerfile" <<DOCKERFILE
FROM scratch
ADD rootfs.tar /
ENV LANG=C.UTF-8 TZ=:/etc/localtime LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime PATH=/usr/local/bin:/usr/bin:/bin
WORKDIR /var/task
LABEL recipe=$RECIPE
DOCKERFILE
docker build --quiet --platform linux/arm64 --tag "$IMAGE" "$CONTEXT" >/dev/null 2>"$WORK/build.log" || { cat "$WORK/build.log"; exit 1; }
echo "$IMAGE built (recipe $RECIPE)"
