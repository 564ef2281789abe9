//! The host-side bindings of every component world the pipeline runs, in one
//! place: translators, the story planner, the sealer and the router. They
//! share one set of canonical types ([`types`]), and the router's Spin
//! imports are the runtime's own bindings.

/// The `translator-plugin` world: the canonical types and the translator
/// interface.
#[allow(missing_docs, clippy::all)]
pub mod translator {
    wasmtime::component::bindgen!({
        world: "switchboard:messaging/translator-plugin",
        path: "../../wit",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

/// The `story-planner` world.
#[allow(missing_docs, clippy::all)]
pub mod planner {
    wasmtime::component::bindgen!({
        world: "switchboard:messaging/story-planner",
        path: "../../wit",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        // One set of canonical types in the host: a story's author is the
        // same `Address` the pipeline delivers to.
        with: { "switchboard:messaging/types": super::types },
    });
}

/// The `sealer` world.
#[allow(missing_docs, clippy::all)]
pub mod sealer {
    wasmtime::component::bindgen!({
        world: "switchboard:messaging/sealer",
        path: "../../wit",
    });
}

/// The router as the pipeline runs it (`pipeline-router`: the
/// `message-router` component composed with the `directory-store` one).
#[allow(missing_docs, clippy::all)]
pub mod router {
    wasmtime::component::bindgen!({
        world: "switchboard:pipeline/pipeline-router",
        path: ["../../wit", "../runtime/wit/deps/spin@2.0.0", "wit"],
        exports: { default: async },
        with: {
            "switchboard:messaging/types": super::types,
            "fermyon:spin/key-value": switchboard_runtime::instance::bindings::fermyon::spin::key_value,
            "fermyon:spin/variables": switchboard_runtime::instance::bindings::fermyon::spin::variables,
        },
    });
}

pub use translator::switchboard::messaging::types;
