from rows_base import R, M
U="https://github.com/turboderp-org/exllamav2/blob/da07facd10b5c7f35b03664c41a3090c9f093de5/README.md"
for model,mode,bpw,gptq,v3090ti,v4090,pb in [
  ("Llama-7B","gptq",4.15,"GPTQ 4-bit g128, no act-order ('Llama 7B')","181","205",6.74),
  ("Llama-13B","gptq",4.15,"GPTQ 4-bit g128, no act-order ('Llama 13B')","110","114",13.0),
  ("Llama-2-7B","exl2",4.0,"EXL2 4.0 bpw","185","211",6.74),
  ("Llama-2-70B","exl2",2.5,"EXL2 2.5 bpw","33","38",69.0),
  ("CodeLlama-34B","exl2",4.0,"EXL2 4.0 bpw","44","50",33.7)]:
    mm=dict(model=model,params_b=pb,active_params_b=pb,moe="false")
    R("ex","decode_tok_s_single",v4090,"rtx4090","exllamav2",url=U,date="2023-09-12",engine_version="ExLlamaV2 ~0.0.x (README table added 2023-09-12)",quant=mode,bits_per_weight=bpw,
      batch_or_concurrency=1,prompt_tokens="",output_tokens="",settings=gptq,notes="README 'Performance' quick test (generation t/s); prompt/gen lengths not stated. 'Llama' rows are LLaMA-1 family per table label ('Llama' vs 'Llama2').",**mm)
    R("ex","decode_tok_s_single",v3090ti,"rtx3090ti","exllamav2",url=U,date="2023-09-12",engine_version="ExLlamaV2 ~0.0.x (README table added 2023-09-12)",quant=mode,bits_per_weight=bpw,
      batch_or_concurrency=1,prompt_tokens="",output_tokens="",settings=gptq,notes="README 'Performance' quick test on RTX 3090 Ti.",**mm)
