/* toolcall.h - reading tool calls out of a model's generated text.
 *
 * Each chat family writes tool calls its own way (Qwen/Hermes:
 * <tool_call>{"name":..,"arguments":..}</tool_call>; Llama 3.x: a bare JSON
 * object {"name":..,"parameters":..} or <|python_tag|>; Mistral:
 * [TOOL_CALLS][{...}]; ...). The parser returns them in OpenAI's shape:
 * [{"id": "call_...", "type": "function",
 *   "function": {"name": "...", "arguments": "<JSON text>"}}]
 * and the remaining text as the message content.
 */
#ifndef HEARTH_TOOLCALL_H
#define HEARTH_TOOLCALL_H

#include <jansson.h>
#include <stddef.h>

#include "hearth/chat.h"
#include "hearth/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parses `text`. On success *tool_calls is a new JSON array (empty when the
 * text has no tool call; caller decrefs) and *content a NUL-terminated copy
 * of the text without the calls (hearth_malloc; caller frees). A call whose
 * JSON is malformed is left in the content, never dropped silently. */
hearth_status hearth_toolcall_parse(hearth_chat_family family, const char *text, size_t len,
                                    json_t **tool_calls, char **content);

#ifdef __cplusplus
}
#endif
#endif
