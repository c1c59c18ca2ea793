/* chat.c - chat templates: family detection, built-in templates and the
 * render entry point over the Jinja interpreter (jinja_*.c).
 *
 * The render context is the one transformers' apply_chat_template builds:
 * {messages, tools, documents: none, add_generation_prompt, **extra}.
 */
#include <string.h>

#include "engine/jinja.h"
#include "hearth/alloc.h"
#include "hearth/chat.h"

struct hearth_chat_template {
    jinja_template *jt;
    hearth_chat_family family;
};

static bool has(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    if (!s || k > n) return false;
    for (size_t i = 0; i + k <= n; i++)
        if (s[i] == needle[0] && memcmp(s + i, needle, k) == 0) return true;
    return false;
}

/* Returns the family whose markers the template text contains; checks the
 * most specific markers first. Does not block. */
hearth_chat_family hearth_chat_detect(const char *source, size_t len) {
    if (!source) return HEARTH_CHAT_UNKNOWN;
    if (has(source, len, "<|start_header_id|>")) return HEARTH_CHAT_LLAMA3;
    if (has(source, len, "<start_of_turn>")) return HEARTH_CHAT_GEMMA;
    if (has(source, len, "<|im_start|>"))
        return has(source, len, "<think>") ? HEARTH_CHAT_QWEN3 : HEARTH_CHAT_CHATML;
    if (has(source, len, "<|user|>") && has(source, len, "<|end|>")) return HEARTH_CHAT_PHI3;
    if (has(source, len, "[INST]"))
        return has(source, len, "<<SYS>>") ? HEARTH_CHAT_LLAMA2 : HEARTH_CHAT_MISTRAL;
    return HEARTH_CHAT_UNKNOWN;
}

/* Returns a static lower-case name for a family. */
const char *hearth_chat_family_name(hearth_chat_family f) {
    switch (f) {
    case HEARTH_CHAT_CHATML: return "chatml";
    case HEARTH_CHAT_QWEN3: return "qwen3";
    case HEARTH_CHAT_LLAMA3: return "llama3";
    case HEARTH_CHAT_LLAMA2: return "llama2";
    case HEARTH_CHAT_MISTRAL: return "mistral";
    case HEARTH_CHAT_GEMMA: return "gemma";
    case HEARTH_CHAT_PHI3: return "phi3";
    default: return "unknown";
    }
}

/* ---- built-in templates ------------------------------------------------
 * Written after the official Hugging Face templates of each family. Jinja
 * string escapes appear as \\n in the C source; real line breaks are only
 * layout (every tag strips them). */

static const char TPL_CHATML[] =
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    "    {%- else %}\n"
    "        {{- 'You are a helpful assistant.' }}\n"
    "    {%- endif %}\n"
    "    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n"
    "You are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n"
    "    {%- for tool in tools %}\n"
    "        {{- \"\\n\" }}\n"
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, "
    "\\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n"
    "{%- elif messages[0]['role'] == 'system' %}\n"
    "    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if message.role == 'system' and loop.first %}\n"
    "    {%- elif message.role == 'assistant' %}\n"
    "        {{- '<|im_start|>assistant' }}\n"
    "        {%- if message.content %}\n"
    "            {{- '\\n' + message.content }}\n"
    "        {%- endif %}\n"
    "        {%- if message.tool_calls %}\n"
    "            {%- for tool_call in message.tool_calls %}\n"
    "                {%- set f = tool_call.function if tool_call.function is defined else tool_call %}\n"
    "                {{- '\\n<tool_call>\\n{\"name\": \"' + f.name + '\", \"arguments\": ' }}\n"
    "                {{- f.arguments if f.arguments is string else f.arguments | tojson }}\n"
    "                {{- '}\\n</tool_call>' }}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == 'tool' %}\n"
    "        {%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}\n"
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' + (message.content or '') + '\\n</tool_response>' }}\n"
    "        {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + (message.content or '') + '<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n";

static const char TPL_QWEN3[] =
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0].role == 'system' %}\n"
    "        {{- messages[0].content + '\\n\\n' }}\n"
    "    {%- endif %}\n"
    "    {{- \"# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n"
    "You are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n"
    "    {%- for tool in tools %}\n"
    "        {{- \"\\n\" }}\n"
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, "
    "\\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n"
    "{%- else %}\n"
    "    {%- if messages[0].role == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}\n"
    "{%- for message in messages[::-1] %}\n"
    "    {%- set index = (messages|length - 1) - loop.index0 %}\n"
    "    {%- if ns.multi_step_tool and message.role == \"user\" and message.content is string and "
    "not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}\n"
    "        {%- set ns.multi_step_tool = false %}\n"
    "        {%- set ns.last_query_index = index %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- for message in messages %}\n"
    "    {%- if message.content is string %}\n"
    "        {%- set content = message.content %}\n"
    "    {%- else %}\n"
    "        {%- set content = '' %}\n"
    "    {%- endif %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}\n"
    "    {%- elif message.role == \"assistant\" %}\n"
    "        {%- set reasoning_content = '' %}\n"
    "        {%- if message.reasoning_content is string %}\n"
    "            {%- set reasoning_content = message.reasoning_content %}\n"
    "        {%- else %}\n"
    "            {%- if '</think>' in content %}\n"
    "                {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}\n"
    "                {%- set content = content.split('</think>')[-1].lstrip('\\n') %}\n"
    "            {%- endif %}\n"
    "        {%- endif %}\n"
    "        {%- if loop.index0 > ns.last_query_index %}\n"
    "            {%- if loop.last or (not loop.last and reasoning_content) %}\n"
    "                {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + "
    "'\\n</think>\\n\\n' + content.lstrip('\\n') }}\n"
    "            {%- else %}\n"
    "                {{- '<|im_start|>' + message.role + '\\n' + content }}\n"
    "            {%- endif %}\n"
    "        {%- else %}\n"
    "            {{- '<|im_start|>' + message.role + '\\n' + content }}\n"
    "        {%- endif %}\n"
    "        {%- if message.tool_calls %}\n"
    "            {%- for tool_call in message.tool_calls %}\n"
    "                {%- if (loop.first and content) or (not loop.first) %}\n"
    "                    {{- '\\n' }}\n"
    "                {%- endif %}\n"
    "                {%- if tool_call.function %}\n"
    "                    {%- set tool_call = tool_call.function %}\n"
    "                {%- endif %}\n"
    "                {{- '<tool_call>\\n{\"name\": \"' }}\n"
    "                {{- tool_call.name }}\n"
    "                {{- '\", \"arguments\": ' }}\n"
    "                {%- if tool_call.arguments is string %}\n"
    "                    {{- tool_call.arguments }}\n"
    "                {%- else %}\n"
    "                    {{- tool_call.arguments | tojson }}\n"
    "                {%- endif %}\n"
    "                {{- '}\\n</tool_call>' }}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"tool\" %}\n"
    "        {%- if loop.first or (messages[loop.index0 - 1].role != \"tool\") %}\n"
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "    {%- if enable_thinking is defined and enable_thinking is false %}\n"
    "        {{- '<think>\\n\\n</think>\\n\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n";

static const char TPL_LLAMA3[] =
    "{{- bos_token }}\n"
    "{%- if tools %}\n"
    "    {{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] | trim + '\\n\\n' }}\n"
    "    {%- endif %}\n"
    "    {{- 'You have access to the following functions. To call a function, respond with JSON of the form "
    "{\"name\": function name, \"parameters\": dictionary of argument name and its value}.\\n\\n' }}\n"
    "    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) + '\\n\\n' }}\n"
    "    {%- endfor %}\n"
    "    {{- '<|eot_id|>' }}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if not (tools and loop.first and message['role'] == 'system') %}\n"
    "        {%- set role = 'ipython' if message['role'] == 'tool' else message['role'] %}\n"
    "        {{- '<|start_header_id|>' + role + '<|end_header_id|>\\n\\n' }}\n"
    "        {%- if message['content'] is string %}\n"
    "            {{- message['content'] | trim }}\n"
    "        {%- endif %}\n"
    "        {%- if message['tool_calls'] %}\n"
    "            {%- for tc in message['tool_calls'] %}\n"
    "                {%- set f = tc['function'] if tc['function'] is defined else tc %}\n"
    "                {{- '{\"name\": \"' + f['name'] + '\", \"parameters\": ' }}\n"
    "                {{- f['arguments'] if f['arguments'] is string else f['arguments'] | tojson }}\n"
    "                {{- '}' }}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {{- '<|eot_id|>' }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}\n";

static const char TPL_LLAMA2[] =
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set loop_messages = messages[1:] %}\n"
    "    {%- set system_message = messages[0]['content'] %}\n"
    "{%- else %}\n"
    "    {%- set loop_messages = messages %}\n"
    "    {%- set system_message = false %}\n"
    "{%- endif %}\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
    "        {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}\n"
    "    {%- endif %}\n"
    "    {%- if loop.index0 == 0 and system_message != false %}\n"
    "        {%- set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}\n"
    "    {%- else %}\n"
    "        {%- set content = message['content'] %}\n"
    "    {%- endif %}\n"
    "    {%- if message['role'] == 'user' %}\n"
    "        {{- bos_token + '[INST] ' + content | trim + ' [/INST]' }}\n"
    "    {%- elif message['role'] == 'assistant' %}\n"
    "        {{- ' ' + content | trim + ' ' + eos_token }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n";

static const char TPL_MISTRAL[] =
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content'] %}\n"
    "    {%- set loop_messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set loop_messages = messages %}\n"
    "{%- endif %}\n"
    "{%- set ns = namespace(last_user=-1) %}\n"
    "{%- for m in loop_messages %}\n"
    "    {%- if m['role'] == 'user' %}\n"
    "        {%- set ns.last_user = loop.index0 %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{{- bos_token }}\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if message['role'] == 'user' %}\n"
    "        {%- if tools and loop.index0 == ns.last_user %}\n"
    "            {{- '[AVAILABLE_TOOLS] [' }}\n"
    "            {%- for tool in tools %}\n"
    "                {%- set t = tool['function'] if tool['function'] is defined else tool %}\n"
    "                {{- '{\"type\": \"function\", \"function\": ' + t | tojson + '}' }}\n"
    "                {%- if not loop.last %}\n"
    "                    {{- ', ' }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "            {{- '][/AVAILABLE_TOOLS]' }}\n"
    "        {%- endif %}\n"
    "        {%- if system_message is defined and loop.index0 == ns.last_user %}\n"
    "            {{- '[INST] ' + system_message + '\\n\\n' + message['content'] + '[/INST]' }}\n"
    "        {%- else %}\n"
    "            {{- '[INST] ' + message['content'] + '[/INST]' }}\n"
    "        {%- endif %}\n"
    "    {%- elif message['role'] == 'assistant' %}\n"
    "        {%- if message['tool_calls'] %}\n"
    "            {{- '[TOOL_CALLS] [' }}\n"
    "            {%- for tc in message['tool_calls'] %}\n"
    "                {%- set f = tc['function'] if tc['function'] is defined else tc %}\n"
    "                {{- '{\"name\": \"' + f['name'] + '\", \"arguments\": ' }}\n"
    "                {{- f['arguments'] if f['arguments'] is string else f['arguments'] | tojson }}\n"
    "                {{- '}' }}\n"
    "                {%- if not loop.last %}\n"
    "                    {{- ', ' }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "            {{- ']' + eos_token }}\n"
    "        {%- else %}\n"
    "            {{- ' ' + message['content'] | trim + eos_token }}\n"
    "        {%- endif %}\n"
    "    {%- elif message['role'] == 'tool' %}\n"
    "        {{- '[TOOL_RESULTS] {\"content\": ' + message['content'] | tojson + '}[/TOOL_RESULTS]' }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n";

static const char TPL_GEMMA[] =
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n"
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{ '<start_of_turn>model\\n' }}\n"
    "{%- endif -%}\n";

static const char TPL_PHI3[] =
    "{%- for message in messages %}\n"
    "    {%- if message['role'] == 'system' and message['content'] %}\n"
    "        {{- '<|system|>\\n' + message['content'] + '<|end|>\\n' }}\n"
    "    {%- elif message['role'] == 'user' %}\n"
    "        {{- '<|user|>\\n' + message['content'] + '<|end|>\\n' }}\n"
    "    {%- elif message['role'] == 'assistant' %}\n"
    "        {{- '<|assistant|>\\n' + (message['content'] or '') + '<|end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|assistant|>\\n' }}\n"
    "{%- else %}\n"
    "    {{- eos_token }}\n"
    "{%- endif %}\n";

/* Returns the static built-in source for a family (ChatML for UNKNOWN). */
const char *hearth_chat_builtin_source(hearth_chat_family f) {
    switch (f) {
    case HEARTH_CHAT_QWEN3: return TPL_QWEN3;
    case HEARTH_CHAT_LLAMA3: return TPL_LLAMA3;
    case HEARTH_CHAT_LLAMA2: return TPL_LLAMA2;
    case HEARTH_CHAT_MISTRAL: return TPL_MISTRAL;
    case HEARTH_CHAT_GEMMA: return TPL_GEMMA;
    case HEARTH_CHAT_PHI3: return TPL_PHI3;
    default: return TPL_CHATML;
    }
}

/* ---- templates -------------------------------------------------------- */

/* Parses a template; see chat.h. Does not block. */
hearth_status hearth_chat_template_new(const char *source, size_t len, hearth_chat_template **out) {
    if (!out) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_chat_template_new: out is NULL");
    *out = NULL;
    if (!source && len) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_chat_template_new: source is NULL");
    hearth_chat_template *t = hearth_calloc(1, sizeof(*t));
    if (!t) return hearth_error_set(HEARTH_ERR_NOMEM, "chat template");
    hearth_status st = jinja_parse(source ? source : "", len, &t->jt);
    if (st != HEARTH_OK) {
        hearth_free(t);
        return st;
    }
    t->family = hearth_chat_detect(source, len);
    *out = t;
    return HEARTH_OK;
}

void hearth_chat_template_free(hearth_chat_template *t) {
    if (!t) return;
    jinja_template_free(t->jt);
    hearth_free(t);
}

hearth_chat_family hearth_chat_template_family(const hearth_chat_template *t) {
    return t ? t->family : HEARTH_CHAT_UNKNOWN;
}

/* Renders a conversation; see chat.h. CPU-bound and bounded; does not
 * block. */
hearth_status hearth_chat_render(const hearth_chat_template *t, const json_t *messages, const json_t *tools,
                                 bool add_generation_prompt, const json_t *extra, char **out, size_t *out_len) {
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!t || !out) return hearth_error_set(HEARTH_ERR_INVALID, "hearth_chat_render: NULL argument");
    if (!messages || !json_is_array(messages))
        return hearth_error_set(HEARTH_ERR_INVALID, "hearth_chat_render: messages must be an array");
    if (extra && !json_is_object(extra))
        return hearth_error_set(HEARTH_ERR_INVALID, "hearth_chat_render: extra must be an object");
    size_t nextra = extra ? json_object_size(extra) : 0;
    jinja_var *vars = hearth_calloc(4 + nextra, sizeof(*vars));
    if (!vars) return hearth_error_set(HEARTH_ERR_NOMEM, "chat render context");
    size_t n = 0;
    vars[n++] = (jinja_var){"messages", messages};
    vars[n++] = (jinja_var){"tools", tools && !json_is_null(tools) ? tools : NULL};
    vars[n++] = (jinja_var){"documents", NULL};
    vars[n++] = (jinja_var){"add_generation_prompt", add_generation_prompt ? json_true() : json_false()};
    if (extra) {
        const char *key;
        json_t *val;
        json_t *em = (json_t *)(uintptr_t)extra; /* iteration does not modify */
        json_object_foreach(em, key, val) {
            if (n >= 4 + nextra) break;
            vars[n++] = (jinja_var){key, val};
        }
    }
    hearth_status st = jinja_render(t->jt, vars, n, out, out_len);
    hearth_free(vars);
    return st;
}
