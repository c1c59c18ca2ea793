/* chat.h - chat templates: turning a conversation into the prompt text.
 *
 * hearth runs the GGUF's own `tokenizer.chat_template` with a small Jinja
 * interpreter (the subset that Hugging Face chat templates use), in the
 * environment transformers sets up: trim_blocks, lstrip_blocks, loop
 * controls, `tojson` as Python's json.dumps(ensure_ascii=False),
 * raise_exception and strftime_now. When a file has no template, or one the
 * interpreter cannot parse, a built-in template for the detected family is
 * used (ChatML as the last resort).
 *
 * Conversations and tools are jansson values in OpenAI's shape:
 * [{"role": "system"|"user"|"assistant"|"tool", "content": "...",
 *   "tool_calls": [...], "tool_call_id": "..."}].
 */
#ifndef HEARTH_CHAT_H
#define HEARTH_CHAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hearth/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hearth_chat_family {
    HEARTH_CHAT_UNKNOWN = 0,
    HEARTH_CHAT_CHATML,   /* <|im_start|>role ... <|im_end|> (Qwen2, SmolLM, ...) */
    HEARTH_CHAT_QWEN3,    /* ChatML with <think> and <tool_call> */
    HEARTH_CHAT_LLAMA3,   /* <|start_header_id|>role<|end_header_id|> ... <|eot_id|> */
    HEARTH_CHAT_LLAMA2,   /* [INST] <<SYS>> ... */
    HEARTH_CHAT_MISTRAL,  /* [INST] ... [/INST] (v1/v3/v7 variants) */
    HEARTH_CHAT_GEMMA,    /* <start_of_turn>user ... <end_of_turn> */
    HEARTH_CHAT_PHI3      /* <|user|> ... <|end|> */
} hearth_chat_family;

/* Recognises the family from a template's source text. */
hearth_chat_family hearth_chat_detect(const char *source, size_t len);
/* "chatml", "qwen3", "llama3", ... */
const char *hearth_chat_family_name(hearth_chat_family f);
/* The built-in template source of a family (ChatML for UNKNOWN); static. */
const char *hearth_chat_builtin_source(hearth_chat_family f);

typedef struct hearth_chat_template hearth_chat_template;

/* Parses a Jinja template. Returns HEARTH_ERR_FORMAT with a detail naming
 * the line and what was expected, or HEARTH_ERR_UNSUPPORTED for a construct
 * outside the subset. The source is copied. */
hearth_status hearth_chat_template_new(const char *source, size_t len,
                                       hearth_chat_template **out);
void hearth_chat_template_free(hearth_chat_template *t);
hearth_chat_family hearth_chat_template_family(const hearth_chat_template *t);

/* Renders a conversation. `tools` may be NULL (rendered as none/null).
 * `extra` may be NULL or an object of further context variables
 * (bos_token, eos_token, enable_thinking, ...). *out is NUL-terminated,
 * allocated with hearth_malloc; caller frees. A template's
 * raise_exception(msg) returns HEARTH_ERR_INVALID with msg as detail.
 * Rendering is bounded (loop iterations, output size, recursion depth), so
 * a hostile template cannot hang or exhaust memory. */
hearth_status hearth_chat_render(const hearth_chat_template *t, const json_t *messages,
                                 const json_t *tools, bool add_generation_prompt,
                                 const json_t *extra, char **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
