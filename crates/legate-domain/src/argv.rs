//! An exec agent's command line as legate builds it, and whether the kernel will take it.
//!
//! The runner builds the argv from here and submission checks it from here, so what is
//! checked at submit is exactly what is started. Linux refuses an `execve` whose single
//! argument passes `MAX_ARG_STRLEN` ([`MAX_ARG_BYTES`]) or whose arguments and environment
//! together pass the stack-derived limit (`sysconf(_SC_ARG_MAX)`, read by the caller); the
//! checks here are pure arithmetic on both.

use std::collections::BTreeMap;

use crate::agent::{
    ARGS_PLACEHOLDER, AgentSpec, MAX_ARG_BYTES, MODEL_PLACEHOLDER, PROMPT_FILE_PLACEHOLDER,
    PROMPT_PLACEHOLDER, PromptMode, SESSION_PLACEHOLDER,
};
use crate::api::{ApiError, ErrorCode};

/// The command's arguments (after the program) with `{args}` expanded: the model, the agent's
/// extra `args`, and for a follow-up (`session`) its `resume` arguments. Without `{args}` they
/// go before the prompt's placeholder, or at the end. Placeholders of the prompt stay.
pub fn arguments(spec: &AgentSpec, session: Option<&str>) -> Vec<String> {
    let mut extra: Vec<String> = Vec::new();
    if let Some(model) = &spec.model {
        extra.extend(
            spec.model_args
                .iter()
                .map(|a| a.replace(MODEL_PLACEHOLDER, model)),
        );
    }
    extra.extend(spec.args.iter().cloned());
    if let Some(session) = session {
        extra.extend(
            spec.resume
                .iter()
                .map(|a| a.replace(SESSION_PLACEHOLDER, session)),
        );
    }
    let mut args: Vec<String> = spec.command.iter().skip(1).cloned().collect();
    match args.iter().position(|a| a == ARGS_PLACEHOLDER) {
        Some(i) => {
            args.splice(i..=i, extra);
        }
        None => {
            let before = args
                .iter()
                .position(|a| a.contains(PROMPT_PLACEHOLDER) || a.contains(PROMPT_FILE_PLACEHOLDER))
                .unwrap_or(args.len());
            args.splice(before..before, extra);
        }
    }
    args
}

/// Replaces `placeholder` inside every argument; appends `value` when no argument has it.
pub fn place(args: &mut Vec<String>, placeholder: &str, value: &str) {
    let mut found = false;
    for a in args.iter_mut() {
        if a.contains(placeholder) {
            *a = a.replace(placeholder, value);
            found = true;
        }
    }
    if !found {
        args.push(value.to_string());
    }
}

/// The arguments of an exec agent with the prompt in place when it goes on the command line
/// (`prompt = "arg"`); other modes keep their placeholders (a file path or nothing).
pub fn prompt_arguments(spec: &AgentSpec, session: Option<&str>, prompt: &str) -> Vec<String> {
    let mut args = arguments(spec, session);
    if spec.prompt == PromptMode::Arg {
        place(&mut args, PROMPT_PLACEHOLDER, prompt);
    }
    args
}

/// What `execve` counts against the system's limit for `argv` (program first) and `env`: each
/// string with its terminating NUL (`NAME=VALUE` for a variable) and one pointer per string.
pub fn exec_bytes(argv: &[String], env: &BTreeMap<String, String>) -> usize {
    let pointer = std::mem::size_of::<usize>();
    let args: usize = argv.iter().map(|a| a.len() + 1 + pointer).sum();
    let vars: usize = env
        .iter()
        .map(|(k, v)| k.len() + 1 + v.len() + 1 + pointer)
        .sum();
    args + vars
}

/// Why a prompt cannot be handed to an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptProblem {
    /// It, or the command line it becomes, is larger than the kernel takes (`prompt_too_large`).
    TooLarge {
        /// What is too large, in bytes.
        message: String,
        /// What to do.
        hint: String,
    },
    /// It cannot pass at all, whatever its size: a NUL byte in an argument (`invalid_prompt`).
    Invalid {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: String,
    },
}

impl From<PromptProblem> for ApiError {
    fn from(p: PromptProblem) -> ApiError {
        match p {
            PromptProblem::TooLarge { message, hint } => {
                ApiError::new(ErrorCode::PromptTooLarge, message, hint)
            }
            PromptProblem::Invalid { message, hint } => {
                ApiError::new(ErrorCode::InvalidPrompt, message, hint)
            }
        }
    }
}

/// The advice for a prompt too large for an agent's command line.
fn too_large_hint(spec: &AgentSpec) -> String {
    format!(
        "set prompt = \"stdin\" or prompt = \"file\" for agent '{}' in the config, or shorten the prompt",
        spec.name
    )
}

impl AgentSpec {
    /// Why `prompt` can never be handed to this agent, whatever its command line: a NUL byte
    /// in a prompt that goes on the command line.
    pub fn prompt_problem(&self, prompt: &str) -> Option<PromptProblem> {
        (self.prompt == PromptMode::Arg && prompt.contains('\0')).then(|| PromptProblem::Invalid {
            message: format!(
                "the prompt contains a NUL byte, which cannot pass in a command-line argument, and agent '{}' takes its prompt as one",
                self.name
            ),
            hint: "remove the NUL byte, or use an agent with prompt = \"stdin\" or \"file\"".into(),
        })
    }

    /// Whether the kernel will start this agent with `argv` (program first, the prompt placed
    /// as [`prompt_arguments`] places it) and environment `env`: every argument within Linux's
    /// `MAX_ARG_STRLEN` ([`MAX_ARG_BYTES`], its NUL included) and all of them with the
    /// environment ([`exec_bytes`]) within `arg_max` bytes (the system's `ARG_MAX`).
    pub fn command_problem(
        &self,
        prompt: &str,
        argv: &[String],
        env: &BTreeMap<String, String>,
        arg_max: usize,
    ) -> Option<PromptProblem> {
        let in_argv = self.prompt == PromptMode::Arg;
        if let Some(arg) = argv.iter().find(|a| a.len() + 1 > MAX_ARG_BYTES) {
            let with_prompt = if in_argv && arg.contains(prompt) {
                format!(
                    "the prompt is {} bytes, and agent '{}' takes it in a command-line argument that becomes {} bytes with its NUL",
                    prompt.len(),
                    self.name,
                    arg.len() + 1
                )
            } else {
                format!(
                    "a command-line argument of agent '{}' is {} bytes with its NUL",
                    self.name,
                    arg.len() + 1
                )
            };
            return Some(PromptProblem::TooLarge {
                message: format!(
                    "{with_prompt}; Linux caps one argument at 128 KiB ({MAX_ARG_BYTES} bytes)"
                ),
                hint: too_large_hint(self),
            });
        }
        let total = exec_bytes(argv, env);
        if total > arg_max {
            let env_bytes = exec_bytes(&[], env);
            let message = format!(
                "agent '{}' would start with {total} bytes of command line and environment (the prompt is {} bytes of it{}, the environment {env_bytes}); this system takes at most {arg_max} (ARG_MAX)",
                self.name,
                if in_argv { prompt.len() } else { 0 },
                if in_argv {
                    ""
                } else {
                    ", as it goes elsewhere"
                },
            );
            // The advice is about whichever takes more room: the prompt or the environment.
            return Some(if in_argv && prompt.len() >= env_bytes {
                PromptProblem::TooLarge {
                    message,
                    hint: too_large_hint(self),
                }
            } else {
                PromptProblem::TooLarge {
                    message,
                    hint: "submit from an environment with fewer or smaller variables, or trim the agent's env in the config".into(),
                }
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AgentKind;

    fn agent(command: &[&str]) -> AgentSpec {
        AgentSpec::new(
            "a",
            AgentKind::Exec,
            command.iter().map(|s| s.to_string()).collect(),
        )
    }

    fn argv(spec: &AgentSpec, prompt: &str) -> Vec<String> {
        let mut v = vec![spec.command[0].clone()];
        v.extend(prompt_arguments(spec, None, prompt));
        v
    }

    #[test]
    fn extra_args_go_where_args_is_or_before_the_prompt() {
        let codex = crate::presets::builtins()
            .into_iter()
            .find(|a| a.name == "codex")
            .unwrap();
        let mut a = codex.clone();
        a.model = Some("o4".into());
        a.args = vec!["--sandbox".into(), "read-only".into()];
        assert_eq!(
            arguments(&a, Some("T1")),
            [
                "exec",
                "--json",
                "--skip-git-repo-check",
                "--model",
                "o4",
                "--sandbox",
                "read-only",
                "resume",
                "T1",
                "--",
                "{prompt}"
            ]
        );
        assert_eq!(
            arguments(&codex, None),
            ["exec", "--json", "--skip-git-repo-check", "--", "{prompt}"]
        );
        let mut plain = agent(&["x", "-q", "{prompt}"]);
        plain.args = vec!["--fast".into()];
        assert_eq!(arguments(&plain, None), ["-q", "--fast", "{prompt}"]);
        plain.command = vec!["x".into()];
        assert_eq!(arguments(&plain, None), ["--fast"]);
    }

    #[test]
    fn placeholder_is_replaced_inside_arguments_or_appended() {
        let mut a = vec!["-p".to_string(), "--x={prompt}".to_string()];
        place(&mut a, PROMPT_PLACEHOLDER, "$(hi)");
        assert_eq!(a, vec!["-p", "--x=$(hi)"]);
        let mut b = vec!["-p".to_string()];
        place(&mut b, PROMPT_PLACEHOLDER, "v");
        assert_eq!(b, vec!["-p", "v"]);
    }

    #[test]
    fn each_argument_is_checked_after_the_prompt_is_in_it() {
        let env = BTreeMap::new();
        let big = 1 << 30;
        let flag = agent(&["g", "--prompt={prompt}"]);
        // `--prompt=` is 9 bytes: with the NUL, 131,062 prompt bytes fill the argument.
        let fits = "x".repeat(MAX_ARG_BYTES - 10);
        assert_eq!(
            flag.command_problem(&fits, &argv(&flag, &fits), &env, big),
            None
        );
        let over = "x".repeat(131_065);
        let p = flag
            .command_problem(&over, &argv(&flag, &over), &env, big)
            .expect("the argument is too long");
        let PromptProblem::TooLarge { message, hint } = p else {
            panic!("{p:?}")
        };
        assert!(
            message.contains("131065") && message.contains("131075"),
            "{message}"
        );
        assert!(hint.contains("stdin"), "{hint}");
        // The same prompt alone as an argument fits.
        let bare = agent(&["g"]);
        assert_eq!(
            bare.command_problem(&over, &argv(&bare, &over), &env, big),
            None
        );
        let mut stdin = agent(&["g", "--prompt={prompt}"]);
        stdin.prompt = PromptMode::Stdin;
        assert_eq!(
            stdin.command_problem(&over, &argv(&stdin, &over), &env, big),
            None,
            "a prompt on stdin is not in the argv"
        );
    }

    #[test]
    fn arguments_and_environment_together_are_checked_against_arg_max() {
        let flag = agent(&["g", "--prompt={prompt}"]);
        let prompt = "x".repeat(100_000);
        let argv = argv(&flag, &prompt);
        let mut env = BTreeMap::new();
        env.insert("BULK".to_string(), "y".repeat(100_000));
        let total = exec_bytes(&argv, &env);
        assert_eq!(total, 2 + 8 + 9 + 100_000 + 1 + 8 + 5 + 100_000 + 1 + 8);
        assert_eq!(flag.command_problem(&prompt, &argv, &env, total), None);
        let p = flag
            .command_problem(&prompt, &argv, &env, total - 1)
            .expect("one byte over");
        let ApiError { code, message, .. } = p.into();
        assert_eq!(code, ErrorCode::PromptTooLarge);
        assert!(message.contains(&format!("{total} bytes")), "{message}");

        // A short prompt in a large environment: the advice is about the environment.
        env.insert("MORE".to_string(), "z".repeat(100_000));
        let argv = super::tests::argv(&flag, "hi");
        let ApiError { hint, message, .. } = flag
            .command_problem("hi", &argv, &env, 150_000)
            .expect("over")
            .into();
        let hint = hint.unwrap_or_default();
        assert!(hint.contains("fewer or smaller variables"), "{hint}");
        assert!(message.contains("the environment 200"), "{message}");
        // A large prompt in a small environment: about the prompt.
        let ApiError { hint, .. } = flag
            .command_problem(
                &prompt,
                &super::tests::argv(&flag, &prompt),
                &BTreeMap::new(),
                50_000,
            )
            .expect("over")
            .into();
        let hint = hint.unwrap_or_default();
        assert!(hint.contains("prompt = \"stdin\""), "{hint}");
    }

    #[test]
    fn a_nul_byte_is_invalid_not_too_large() {
        let flag = agent(&["g", "{prompt}"]);
        let e: ApiError = flag.prompt_problem("a\0b").expect("refused").into();
        assert_eq!(e.code, ErrorCode::InvalidPrompt);
        assert!(e.message.contains("NUL"), "{}", e.message);
        let mut stdin = flag.clone();
        stdin.prompt = PromptMode::Stdin;
        assert_eq!(stdin.prompt_problem("a\0b"), None);
    }
}
