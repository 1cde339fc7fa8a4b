//! Code generation for `statsig-console`: `spec/openapi.yaml` → progenitor → prettyplease.
//!
//! `build.rs` and `cargo xtask` both call [`generate_client`], so the code a reviewer sees in
//! the committed snapshot is, byte for byte, the code the library compiles.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::fmt;
use std::path::{Path, PathBuf};

use progenitor::{GenerationSettings, Generator, InterfaceStyle, TagStyle};

pub mod declared;

/// Where and why generation failed. Every message names the spec file.
#[derive(Debug)]
pub struct CodegenError {
    path: PathBuf,
    problem: String,
}

impl CodegenError {
    fn new(path: &Path, problem: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }

    /// The spec file the error is about.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What is wrong, without the file name.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

impl std::error::Error for CodegenError {}

/// Choices that change the generated code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CodegenOptions {
    /// Derive `schemars::JsonSchema` on every generated type (the library's `schemars` feature).
    pub derive_json_schema: bool,
}

/// Reads and parses an OpenAPI document written in YAML (JSON is YAML too).
pub fn load_spec(path: &Path) -> Result<openapiv3::OpenAPI, CodegenError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CodegenError::new(path, format!("cannot read the file: {e}")))?;
    parse_spec(path, &text)
}

/// Parses an OpenAPI document from text; `path` only names it in errors.
pub fn parse_spec(path: &Path, text: &str) -> Result<openapiv3::OpenAPI, CodegenError> {
    let spec: openapiv3::OpenAPI = serde_norway::from_str(text)
        .map_err(|e| CodegenError::new(path, format!("not a valid OpenAPI 3.0 document: {e}")))?;
    if !spec.openapi.starts_with("3.0.") {
        return Err(CodegenError::new(
            path,
            format!(
                "`openapi: {}` is not supported: the generator reads OpenAPI 3.0.x",
                spec.openapi
            ),
        ));
    }
    Ok(spec)
}

/// The spec as pretty-printed JSON (two-space indent, LF, trailing newline), key order as
/// written in the YAML. Used for `spec/openapi.json` and the fake server's request checks.
pub fn spec_json(path: &Path) -> Result<String, CodegenError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CodegenError::new(path, format!("cannot read the file: {e}")))?;
    // Parse as OpenAPI first so a malformed spec is reported the same way everywhere.
    parse_spec(path, &text)?;
    let value: serde_json::Value = serde_norway::from_str(&text)
        .map_err(|e| CodegenError::new(path, format!("not valid YAML: {e}")))?;
    let mut json = serde_json::to_string_pretty(&value)
        .map_err(|e| CodegenError::new(path, format!("cannot be written as JSON: {e}")))?;
    json.push('\n');
    Ok(json)
}

/// Spec schemas the generator replaces with hand-written open enums in `src/open_enum.rs`:
/// (component name, Rust path). Known values are variants; anything else is kept as
/// `Unknown(String)`. The xtask's types-vs-spec check reads this list too.
pub const OPEN_ENUMS: &[(&str, &str)] = &[
    (
        "ChangeTeamConfigsSetting",
        "crate::open_enum::ChangeTeamConfigsSetting",
    ),
    (
        "ReviewApprovalSetting",
        "crate::open_enum::ReviewApprovalSetting",
    ),
    ("OverrideType", "crate::open_enum::OverrideType"),
];

/// The settings both build.rs and xtask use; changing them changes the public API.
fn settings(options: CodegenOptions) -> GenerationSettings {
    let mut settings = GenerationSettings::new();
    settings
        // Builder style gives every request type a typed builder (`types::builder::*`), so
        // users never write JSON by hand and new optional fields are not breaking changes.
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        // The library implements `ClientHooks` (its transport): the vendor's headers, rate
        // limiting, retries and the bounded body read. `Expected` turns a missing
        // implementation into one clear compile error.
        .with_hooks(progenitor::HooksMode::Expected)
        .with_inner_type(quote::quote!(crate::config::ClientConfig))
        .with_derive("PartialEq");
    // Answers use open enums, so a value the vendor adds later is kept as `Unknown(String)`
    // instead of failing the whole call. OverrideType is shared by requests and answers (like
    // the vendor's DTO); the facade refuses `Unknown` before sending. Requests otherwise keep
    // closed enums (ChangeTeamConfigs, ReviewApproval).
    for (component, rust_path) in OPEN_ENUMS {
        settings.with_replacement(
            component,
            rust_path,
            [progenitor::TypeImpl::FromStr, progenitor::TypeImpl::Display].into_iter(),
        );
    }
    if options.derive_json_schema {
        settings.with_derive("schemars::JsonSchema");
    }
    settings
}

/// Generates the formatted Rust source of the client for the spec at `spec_path`, with a
/// provenance line ([`provenance_line`]) that lets a build without the generator check the
/// committed copy against the spec.
pub fn generate_client(spec_path: &Path, options: CodegenOptions) -> Result<String, CodegenError> {
    let text = std::fs::read_to_string(spec_path)
        .map_err(|e| CodegenError::new(spec_path, format!("cannot read the file: {e}")))?;
    let spec = parse_spec(spec_path, &text)?;
    let json = spec_json(spec_path)?;
    let source = generate_client_from(spec_path, &spec, options)?;
    // After the two `@generated` lines.
    let mut lines = source.splitn(3, '\n');
    let (first, second, rest) = (
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default(),
    );
    Ok(format!(
        "{first}\n{second}\n{}\n{rest}",
        provenance_line(&text, &json)
    ))
}

/// The line recording what generated code was made from: the generator's version and the
/// fingerprints of the spec and of its JSON twin (see [`fingerprint`]). The library's
/// `build.rs`, built without its `codegen` feature, reads it back to refuse a committed copy
/// that does not match the spec beside it.
pub fn provenance_line(spec_yaml: &str, spec_json: &str) -> String {
    format!(
        "// provenance: statsig-console-codegen {}; spec/openapi.yaml {}; spec/openapi.json {}",
        env!("CARGO_PKG_VERSION"),
        fingerprint(spec_yaml),
        fingerprint(spec_json)
    )
}

/// `fnv1a64:` and the 64-bit FNV-1a hash of `text` with CRLF read as LF, in hex.
///
/// Hand-written, and written again in the library's `build.rs`, on purpose: the check it
/// serves runs where no generator (and no hashing crate) is compiled, and it guards against a
/// spec edited without regenerating, not against an adversary, for which FNV-1a is plenty.
/// The build without `codegen` fails if the two ever disagree.
pub fn fingerprint(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.replace("\r\n", "\n").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{hash:016x}")
}

/// Generates the formatted Rust source of the client for an already parsed spec.
pub fn generate_client_from(
    spec_path: &Path,
    spec: &openapiv3::OpenAPI,
    options: CodegenOptions,
) -> Result<String, CodegenError> {
    check_supported(spec_path, spec)?;
    let settings = settings(options);
    let tokens = run_without_panicking(spec_path, || {
        Generator::new(&settings).generate_tokens(spec)
    })?
    .map_err(|e| {
        CodegenError::new(
            spec_path,
            format!("progenitor cannot generate a client: {e}"),
        )
    })?;
    let mut file: syn::File = syn::parse2(tokens).map_err(|e| {
        CodegenError::new(
            spec_path,
            format!("progenitor produced code that does not parse: {e}"),
        )
    })?;
    let operations = || {
        spec.paths
            .iter()
            .filter_map(|(_, item)| item.as_item())
            .flat_map(|item| item.iter())
            .map(|(_, operation)| operation)
    };
    remove_progenitor_version_header(&mut file, operations().count())
        .map_err(|problem| CodegenError::new(spec_path, problem))?;
    let operations_with_body = operations()
        .filter(|operation| operation.request_body.is_some())
        .count();
    defer_default_bodies(&mut file, operations_with_body)
        .map_err(|problem| CodegenError::new(spec_path, problem))?;
    scope_send_locals(&mut file, operations().count())
        .map_err(|problem| CodegenError::new(spec_path, problem))?;
    let declared = declared::read(spec)
        .map_err(|problems| CodegenError::new(spec_path, problems.join("; ")))?;
    check_generated_names(&file, &declared)
        .map_err(|problem| CodegenError::new(spec_path, problem))?;
    file.items.push(declared::module(&declared));
    let mut source = String::from(
        "// @generated by statsig-console-codegen from spec/openapi.yaml. Do not edit by hand:\n\
         // change the spec and run `cargo xtask generate`.\n\n",
    );
    source.push_str(&prettyplease::unparse(&file));
    Ok(source)
}

/// Checks that progenitor named each operation as the declared table says, so that the
/// transport finds every operation it is asked to send.
fn check_generated_names(file: &syn::File, declared: &declared::Declared) -> Result<(), String> {
    let generated = compact_tokens(file);
    for operation in &declared.operations {
        if !generated.contains(&format!("operation_id:\"{}\"", operation.generated_name)) {
            return Err(format!(
                "operation `{}`: progenitor did not name it `{}` as expected; has its naming changed?",
                operation.operation_id, operation.generated_name
            ));
        }
    }
    Ok(())
}

/// Generated code as text without the spaces `TokenStream`'s `Display` puts between tokens,
/// for matching the shapes the post-processing passes below look for.
fn compact_tokens(tokens: &impl quote::ToTokens) -> String {
    tokens.to_token_stream().to_string().replace(' ', "")
}

/// The items of progenitor's `builder` module, where the operation builders are; `Err` names
/// `pass`, the post-processing pass that needs them, when progenitor's output has none.
fn builder_module<'f>(
    file: &'f mut syn::File,
    pass: &str,
) -> Result<&'f mut Vec<syn::Item>, String> {
    file.items
        .iter_mut()
        .find_map(|item| match item {
            syn::Item::Mod(module) if module.ident == "builder" => {
                module.content.as_mut().map(|(_, items)| items)
            }
            _ => None,
        })
        .ok_or_else(|| {
            format!("{pass}: progenitor's output has no `builder` module; has it changed?")
        })
}

/// The name of the function [`defer_default_bodies`] adds to the operation builders' module.
const BODY_OR_DEFAULT: &str = "body_or_default";

/// Makes an operation builder build its default body only when it is used.
///
/// progenitor's `new()` starts every operation builder with `body: Ok(Default::default())`, a
/// builder of the body type whose required fields each hold an allocated "no value supplied"
/// message; `.body(value)` then drops them all, on every call (ten for Create Team). Here
/// `new()` starts with an empty error instead, which no conversion error is, and `body_map`
/// and `send` turn it into the default builder where they read the body: the behaviour and
/// the messages stay exactly as progenitor wrote them. Fails when progenitor's output no
/// longer has the expected shape, rather than emitting a builder that behaves differently.
fn defer_default_bodies(file: &mut syn::File, operations_with_body: usize) -> Result<(), String> {
    use syn::visit_mut::VisitMut;

    #[derive(Default)]
    struct Deferrer {
        /// The builder method being visited.
        method: String,
        initialised: usize,
        mapped: usize,
        sent: usize,
    }

    impl VisitMut for Deferrer {
        fn visit_impl_item_fn_mut(&mut self, function: &mut syn::ImplItemFn) {
            self.method = function.sig.ident.to_string();
            syn::visit_mut::visit_impl_item_fn_mut(self, function);
        }

        fn visit_field_value_mut(&mut self, field: &mut syn::FieldValue) {
            if self.method == "new"
                && compact_tokens(&field.member) == "body"
                && compact_tokens(&field.expr) == "Ok(::std::default::Default::default())"
            {
                field.expr = syn::parse_quote!(Err(::std::string::String::new()));
                self.initialised += 1;
            }
            syn::visit_mut::visit_field_value_mut(self, field);
        }

        fn visit_expr_method_call_mut(&mut self, call: &mut syn::ExprMethodCall) {
            let receiver = compact_tokens(&call.receiver);
            let wrap = match (self.method.as_str(), call.method.to_string().as_str()) {
                ("body_map", "map") if receiver == "self.body" => Some(&mut self.mapped),
                ("send", "and_then") if receiver == "body" => Some(&mut self.sent),
                _ => None,
            };
            if let Some(count) = wrap {
                let helper = syn::Ident::new(BODY_OR_DEFAULT, proc_macro2::Span::call_site());
                let receiver = std::mem::replace(&mut *call.receiver, syn::Expr::PLACEHOLDER);
                *call.receiver = syn::parse_quote!(#helper(#receiver));
                *count += 1;
            }
            syn::visit_mut::visit_expr_method_call_mut(self, call);
        }
    }

    let builders = builder_module(file, "cannot defer the default bodies")?;
    let mut deferrer = Deferrer::default();
    for item in builders.iter_mut() {
        deferrer.visit_item_mut(item);
    }
    let counts = [deferrer.initialised, deferrer.mapped, deferrer.sent];
    if counts != [operations_with_body; 3] {
        return Err(format!(
            "cannot defer the default bodies: expected {operations_with_body} operation builders with a body, found {} default bodies, {} `body_map` and {} `send` reading one; has progenitor's output changed?",
            counts[0], counts[1], counts[2]
        ));
    }
    let helper = syn::Ident::new(BODY_OR_DEFAULT, proc_macro2::Span::call_site());
    builders.push(syn::parse_quote! {
        /// A body left unset (the empty error `new()` starts with) is the body type's default
        /// builder, built only here, where it is read.
        fn #helper<B: ::std::default::Default>(
            body: ::std::result::Result<B, ::std::string::String>,
        ) -> ::std::result::Result<B, ::std::string::String> {
            match body {
                Err(unset) if unset.is_empty() => Ok(B::default()),
                body => body,
            }
        }
    });
    Ok(())
}

/// Gives each operation's `send` locals that end where their use ends, so that the call's
/// future does not keep them beside its awaits.
///
/// rustc keeps a local that was ever borrowed in an `async fn`'s future until the local's
/// scope ends. progenitor's `send` declares everything at the function's top level: the typed
/// body (`.json(&body)` borrows it), the request (`pre(&mut request, ..)` borrows it) and the
/// result (`post(&result, ..)` borrows it). So every call's future kept the body and the
/// request while `exec` ran and the answer was decoded, and the result while it was decoded:
/// about 650 bytes of 2 120 for Create Team, allocated and copied with every call. Here:
/// - the statements that build the request move into a block that yields it;
/// - `pre` runs in a block that takes the request and yields it back;
/// - `exec` and `post` run in a block that yields the response.
///
/// The statements, their order, every error and its message stay as progenitor wrote them.
/// Fails when progenitor's output no longer has the shape this expects.
fn scope_send_locals(file: &mut syn::File, operations: usize) -> Result<(), String> {
    const EXPECTED_AFTER_REQUEST: [&str; 4] = [
        "client.pre(&mutrequest,&info).await?;",
        "letresult=client.exec(request,&info).await;",
        "client.post(&result,&info).await?;",
        "letresponse=result?;",
    ];
    let builders = builder_module(file, "cannot scope the locals of `send`")?;
    let sends = builders
        .iter_mut()
        .filter_map(|item| match item {
            syn::Item::Impl(block) => Some(block),
            _ => None,
        })
        .flat_map(|block| block.items.iter_mut())
        .filter_map(|item| match item {
            syn::ImplItem::Fn(function)
                if function.sig.ident == "send" && function.sig.asyncness.is_some() =>
            {
                Some(function)
            }
            _ => None,
        });
    let mut scoped = 0;
    for send in sends {
        let unexpected = || {
            format!(
                "cannot scope the locals of the `send` returning `{}`: it no longer takes the builder apart, builds `let mut request`, names `info`, then runs `pre`, `exec` and `post` as expected; has progenitor's output changed?",
                compact_tokens(&send.sig.output)
            )
        };
        let statements = std::mem::take(&mut send.block.stmts);
        let request_at = statements.iter().position(|statement| {
            matches!(statement, syn::Stmt::Local(local) if compact_tokens(&local.pat) == "mutrequest")
        });
        let Some(request_at) = request_at else {
            return Err(unexpected());
        };
        let mut statements = statements.into_iter();
        let mut head: Vec<syn::Stmt> = statements.by_ref().take(request_at + 1).collect();
        let tail: Vec<syn::Stmt> = statements.collect();
        let takes_builder_apart = head
            .first()
            .is_some_and(|first| compact_tokens(first).starts_with("letSelf{"));
        let names_info = tail
            .first()
            .is_some_and(|info| compact_tokens(info).starts_with("letinfo=OperationInfo{"));
        let runs_hooks = tail.len() > EXPECTED_AFTER_REQUEST.len()
            && tail[1..=EXPECTED_AFTER_REQUEST.len()]
                .iter()
                .map(compact_tokens)
                .eq(EXPECTED_AFTER_REQUEST);
        let Some(syn::Stmt::Local(syn::Local {
            init: Some(init), ..
        })) = head.pop()
        else {
            return Err(unexpected());
        };
        if !(takes_builder_apart && names_info && runs_hooks) {
            return Err(unexpected());
        }
        let request = init.expr;
        let building = head.split_off(1);
        let info = &tail[0];
        let decoding = &tail[1 + EXPECTED_AFTER_REQUEST.len()..];
        send.block.stmts = head;
        send.block.stmts.extend::<[syn::Stmt; 4]>([
            syn::parse_quote! {
                let request = {
                    #(#building)*
                    #request
                };
            },
            info.clone(),
            syn::parse_quote! {
                let request = {
                    let mut request = request;
                    client.pre(&mut request, &info).await?;
                    request
                };
            },
            syn::parse_quote! {
                let response = {
                    let result = client.exec(request, &info).await;
                    client.post(&result, &info).await?;
                    result?
                };
            },
        ]);
        send.block.stmts.extend(decoding.iter().cloned());
        scoped += 1;
    }
    if scoped != operations {
        return Err(format!(
            "cannot scope the locals of `send`: expected {operations} operations' `send`, found {scoped}; has progenitor's output changed?"
        ));
    }
    Ok(())
}

/// Removes the `api-version: <info.version>` header progenitor adds to every request.
///
/// The Console API versions itself with `STATSIG-API-VERSION` (the transport sends it), and
/// only documented headers should go out; progenitor has no setting to leave its own out. Each
/// operation's header map loses that entry and the capacity reserved for it, so an operation
/// without header parameters allocates no header map at all. Fails, rather than emitting code
/// that still sends the header, when progenitor's output no longer has the expected shape.
fn remove_progenitor_version_header(file: &mut syn::File, operations: usize) -> Result<(), String> {
    use syn::visit_mut::VisitMut;

    #[derive(Default)]
    struct Remover {
        statements: usize,
        capacities: usize,
        problem: Option<String>,
    }

    impl VisitMut for Remover {
        fn visit_block_mut(&mut self, block: &mut syn::Block) {
            let before = block.stmts.len();
            block.stmts.retain(|statement| {
                let text = compact_tokens(statement);
                !(text.starts_with("header_map.append") && text.contains("\"api-version\""))
            });
            self.statements += before - block.stmts.len();
            syn::visit_mut::visit_block_mut(self, block);
        }

        fn visit_expr_call_mut(&mut self, call: &mut syn::ExprCall) {
            let callee = compact_tokens(&call.func);
            if callee.ends_with("header::HeaderMap::with_capacity") {
                match call.args.first_mut() {
                    Some(syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Int(capacity),
                        ..
                    })) => match capacity.base10_parse::<usize>() {
                        Ok(n) if n >= 1 => {
                            *capacity =
                                syn::LitInt::new(&format!("{}usize", n - 1), capacity.span());
                            self.capacities += 1;
                        }
                        _ => {
                            self.problem =
                                Some(format!("unexpected header map capacity `{capacity}`"))
                        }
                    },
                    _ => self.problem = Some("a header map capacity that is not a literal".into()),
                }
            }
            syn::visit_mut::visit_expr_call_mut(self, call);
        }
    }

    let mut remover = Remover::default();
    remover.visit_file_mut(file);
    if let Some(problem) = remover.problem {
        return Err(format!(
            "cannot remove progenitor's api-version header: {problem}"
        ));
    }
    if remover.statements != operations || remover.capacities != operations {
        return Err(format!(
            "cannot remove progenitor's api-version header: expected it in each of the {operations} operations, found {} header statements and {} header maps; has progenitor's output changed?",
            remover.statements, remover.capacities
        ));
    }
    Ok(())
}

/// Rejects the spec shapes progenitor 0.15 would panic on, with a message instead.
fn check_supported(path: &Path, spec: &openapiv3::OpenAPI) -> Result<(), CodegenError> {
    use openapiv3::ReferenceOr;
    for (template, item) in spec.paths.iter() {
        let ReferenceOr::Item(item) = item else {
            return Err(CodegenError::new(
                path,
                format!("path `{template}` is a $ref; write the path item inline"),
            ));
        };
        let in_template: Vec<&str> = template
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        for (method, operation) in item.iter() {
            let operation_name = operation
                .operation_id
                .clone()
                .unwrap_or_else(|| format!("{} {template}", method.to_uppercase()));
            let declared: Vec<String> = operation
                .parameters
                .iter()
                .chain(item.parameters.iter())
                .filter_map(|p| match p {
                    ReferenceOr::Item(openapiv3::Parameter::Path { parameter_data, .. }) => {
                        Some(parameter_data.name.clone())
                    }
                    _ => None,
                })
                .collect();
            for name in &in_template {
                if !declared.iter().any(|d| d == name) {
                    return Err(CodegenError::new(
                        path,
                        format!(
                            "operation `{operation_name}`: `{{{name}}}` in the path has no `in: path` parameter"
                        ),
                    ));
                }
            }
            for name in &declared {
                if !in_template.contains(&name.as_str()) {
                    return Err(CodegenError::new(
                        path,
                        format!(
                            "operation `{operation_name}`: path parameter `{name}` does not appear in `{template}`"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// progenitor still has `unwrap`/`todo!` on unusual inputs; turn those into errors.
fn run_without_panicking<T>(path: &Path, generate: impl FnOnce() -> T) -> Result<T, CodegenError> {
    // The panic hook is process-global: serialize so concurrent callers restore it in order.
    static HOOK_SWAP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serialized = HOOK_SWAP
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    // Nothing of the generator's state outlives a panic, so observing it half-built is moot.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(generate));
    std::panic::set_hook(previous_hook);
    outcome.map_err(|payload| {
        let detail = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("no detail");
        CodegenError::new(
            path,
            format!("progenitor cannot handle this spec (it panicked: {detail})"),
        )
    })
}

#[cfg(test)]
mod fingerprint_tests {
    use super::*;

    #[test]
    fn fingerprints_are_fnv1a_64_and_read_crlf_as_lf() {
        // The reference vectors of FNV-1a 64.
        assert_eq!(fingerprint(""), "fnv1a64:cbf29ce484222325");
        assert_eq!(fingerprint("a"), "fnv1a64:af63dc4c8601ec8c");
        assert_eq!(fingerprint("foobar"), "fnv1a64:85944171f73967e8");
        assert_eq!(fingerprint("a\r\nb\n"), fingerprint("a\nb\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/openapi.yaml")
    }

    #[test]
    fn the_real_spec_generates_both_operations() {
        let source = generate_client(&spec_path(), CodegenOptions::default()).unwrap();
        assert!(source.contains("pub fn patch_experiment_overrides(&self)"));
        assert!(source.contains("pub fn create_team(&self)"));
        assert!(source.contains("pub struct ExperimentOverrides"));
        // Only the vendor's headers go out: progenitor's own version header is removed.
        assert!(
            !source.contains("api-version"),
            "progenitor's header is still sent"
        );
        assert!(source.contains("HeaderMap::with_capacity(0usize)"));
        // No operation builder builds a default body up front; both read theirs through the
        // helper.
        assert!(!source.contains("body: Ok(::std::default::Default::default())"));
        assert_eq!(source.matches("body_or_default(body)").count(), 2);
        assert_eq!(source.matches("body_or_default(self.body)").count(), 2);
        // Each `send` builds its request in a block and runs the hooks in blocks of their own.
        assert!(!source.contains("let mut request = client"));
        assert_eq!(source.matches("let mut request = request;").count(), 2);
        assert_eq!(
            source
                .matches("let result = client.exec(request, &info).await;")
                .count(),
            2
        );
    }

    #[test]
    fn a_send_of_another_shape_fails_the_scoping_rather_than_changing_it() {
        let mut file: syn::File = syn::parse_quote! {
            pub mod builder {
                impl<'a> Operation<'a> {
                    pub async fn send(self) -> Result<(), Error<()>> {
                        let Self { client } = self;
                        let mut request = client.build()?;
                        let info = OperationInfo { operation_id: "operation" };
                        client.exec(request, &info).await
                    }
                }
            }
        };
        let problem = scope_send_locals(&mut file, 1).unwrap_err();
        assert!(
            problem.contains("has progenitor's output changed"),
            "{problem}"
        );
        assert!(problem.contains("Result<(),Error<()>>"), "{problem}");
    }

    #[test]
    fn generation_is_deterministic() {
        let first = generate_client(&spec_path(), CodegenOptions::default()).unwrap();
        let second = generate_client(&spec_path(), CodegenOptions::default()).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn renaming_a_field_in_the_spec_renames_it_in_the_generated_types() {
        let text = std::fs::read_to_string(spec_path()).unwrap();
        assert!(text.contains("        groupID:\n"));
        let renamed = text
            .replace("        groupID:\n", "        groupKey:\n")
            .replace("- groupID\n", "- groupKey\n");
        let path = Path::new("spec/openapi.yaml");
        let spec = parse_spec(path, &renamed).unwrap();
        let source = generate_client_from(path, &spec, CodegenOptions::default()).unwrap();
        assert!(source.contains("rename = \"groupKey\""));
        assert!(source.contains("pub group_key: ::std::string::String"));
        assert!(!source.contains("rename = \"groupID\""));
    }

    #[test]
    fn broken_yaml_names_the_file_and_the_problem() {
        let err = parse_spec(Path::new("spec/openapi.yaml"), "openapi: [").unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("spec/openapi.yaml: not a valid OpenAPI 3.0 document"),
            "{message}"
        );
    }

    #[test]
    fn openapi_31_is_refused_by_name() {
        let text = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n";
        let err = parse_spec(Path::new("spec/openapi.yaml"), text).unwrap_err();
        assert!(err.problem().contains("3.1.0"), "{err}");
    }

    #[test]
    fn undeclared_path_parameter_is_an_error_not_a_panic() {
        let text = r#"
openapi: 3.0.3
info: {title: t, version: '1'}
paths:
  /things/{id}:
    get:
      operationId: getThing
      responses:
        '204': {description: none}
"#;
        let spec = parse_spec(Path::new("spec/openapi.yaml"), text).unwrap();
        let err = generate_client_from(
            Path::new("spec/openapi.yaml"),
            &spec,
            CodegenOptions::default(),
        )
        .unwrap_err();
        assert!(err.problem().contains("`{id}`"), "{err}");
    }

    #[test]
    fn missing_operation_id_is_an_error_not_a_panic() {
        let text = r#"
openapi: 3.0.3
info: {title: t, version: '1'}
paths:
  /things:
    get:
      responses:
        '204': {description: none}
"#;
        let spec = parse_spec(Path::new("spec/openapi.yaml"), text).unwrap();
        let err = generate_client_from(
            Path::new("spec/openapi.yaml"),
            &spec,
            CodegenOptions::default(),
        )
        .unwrap_err();
        assert!(err.problem().contains("operation ID"), "{err}");
    }
}

#[cfg(test)]
mod declared_tests {
    use super::*;

    fn real_spec() -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/openapi.yaml"))
            .unwrap()
    }

    fn generate(text: &str) -> Result<String, CodegenError> {
        let path = Path::new("spec/openapi.yaml");
        let spec = parse_spec(path, text)?;
        generate_client_from(path, &spec, CodegenOptions::default())
    }

    #[test]
    fn the_operation_table_and_the_rate_limits_are_generated_from_the_spec() {
        let source = generate(&real_spec()).unwrap();
        let compact = source.replace([' ', '\n'], "");
        assert!(compact.contains(
            "crate::operations::Operation{operation_id:\"patchExperimentOverrides\",generated_name:\"patch_experiment_overrides\",method:\"PATCH\",path_template:\"/console/v1/experiments/{id}/overrides\",idempotency:crate::operations::Idempotency::Idempotent,}"
        ));
        assert!(compact.contains(
            "operation_id:\"createTeam\",generated_name:\"create_team\",method:\"POST\",path_template:\"/console/v1/users/teams\",idempotency:crate::operations::Idempotency::NotIdempotent"
        ));
        assert!(compact.contains("pubconstBURST:(u32,::std::time::Duration)=(100u32,::std::time::Duration::from_secs(10u64),"));
        assert!(compact.contains("pubconstQUOTA:(u32,::std::time::Duration)=(1800u32,::std::time::Duration::from_secs(900u64),"));
        assert!(compact.contains("pubconstREJECTED_ATTEMPTS_COUNT:bool=true;"));
    }

    #[test]
    fn an_operation_without_x_idempotent_fails_naming_the_file_and_the_operation() {
        let text = real_spec().replacen("      x-idempotent: false\n", "", 1);
        let message = generate(&text).unwrap_err().to_string();
        assert!(message.starts_with("spec/openapi.yaml: "), "{message}");
        assert!(
            message.contains(
                "operation `createTeam` (POST /console/v1/users/teams) has no `x-idempotent`"
            ),
            "{message}"
        );
        let text = real_spec().replacen(
            "      x-idempotent: true\n",
            "      x-idempotent: sometimes\n",
            1,
        );
        let message = generate(&text).unwrap_err().to_string();
        assert!(
            message.contains("`patchExperimentOverrides` (PATCH /console/v1/experiments/{id}/overrides): `x-idempotent` must be `true` or `false`, not `\"sometimes\"`"),
            "{message}"
        );
    }

    #[test]
    fn rate_limits_that_are_missing_or_malformed_fail_with_what_is_wrong() {
        let text = real_spec();
        let start = text.find("  x-rate-limits:\n").unwrap();
        let end = start + text[start..].find("  contact:\n").unwrap();
        let without = format!("{}{}", &text[..start], &text[end..]);
        let message = generate(&without).unwrap_err().to_string();
        assert!(
            message.contains("`info` has no `x-rate-limits`"),
            "{message}"
        );

        let cases = [
            (
                "      requests: 100\n",
                "      requests: 0\n",
                "`info.x-rate-limits`.burst: `requests` and `periodSeconds` must both be above zero",
            ),
            (
                "      periodSeconds: 10\n",
                "      periodSeconds: 900\n",
                "the burst window must be shorter than the quota window",
            ),
            (
                "    read: \"2026-12-01\"\n",
                "    read: December\n",
                "`info.x-rate-limits`.read: `December` is not a date",
            ),
            (
                "    read: \"2026-12-01\"\n",
                "    read: \"2026/12/01\"\n",
                "`2026/12/01` is not a date",
            ),
            (
                "    read: \"2026-12-01\"\n",
                "    read: \"2026-12-011\"\n",
                "`2026-12-011` is not a date",
            ),
            (
                "    source: https://",
                "    source: http://",
                "is not an https:// address",
            ),
            (
                "    scope: project\n",
                "    scope: project\n    colour: blue\n",
                "unknown field `colour`",
            ),
            (
                "    rejectedAttemptsCount: true\n",
                "",
                "missing field `rejectedAttemptsCount`",
            ),
        ];
        for (from, to, expected) in cases {
            assert!(text.contains(from), "{from}");
            let message = generate(&text.replacen(from, to, 1))
                .unwrap_err()
                .to_string();
            assert!(message.contains(expected), "{expected}: {message}");
        }
    }

    #[test]
    fn a_generated_name_progenitor_did_not_use_is_an_error() {
        let path = Path::new("spec/openapi.yaml");
        let spec = parse_spec(path, &real_spec()).unwrap();
        let mut declared = declared::read(&spec).unwrap();
        let file: syn::File = syn::parse_quote! {
            fn send() { let info = OperationInfo { operation_id: "patch_experiment_overrides" }; }
            fn send_too() { let info = OperationInfo { operation_id: "create_team" }; }
        };
        assert_eq!(check_generated_names(&file, &declared), Ok(()));
        declared.operations[1].generated_name = "create_a_team".into();
        let problem = check_generated_names(&file, &declared).unwrap_err();
        assert!(
            problem.contains("operation `createTeam`: progenitor did not name it `create_a_team`"),
            "{problem}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = real_spec()
            .replacen("      x-idempotent: false\n", "", 1)
            .replacen("      x-idempotent: true\n", "", 1);
        let spec = parse_spec(Path::new("spec/openapi.yaml"), &text).unwrap();
        let problems = declared::read(&spec).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
