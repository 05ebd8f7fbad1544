//! The pure core: the plan, the repository as loaded, the steps, their rendering, effects and gates. Nothing
//! here reads the disk, git or a cluster; the adapters bring values in and take values out.

pub mod change;
pub mod chart_patches;
pub mod component;
pub mod delivery;
pub mod desired;
pub mod diagnostic;
pub mod discovery;
pub mod effects;
pub mod gate;
pub mod helm;
pub mod import;
pub mod inventory;
pub mod json_patch;
pub mod kustomize_walk;
pub mod mesh_config;
pub mod migration;
pub mod names;
pub mod observe;
pub mod paths;
pub mod plan;
pub mod plan_reference;
pub mod render;
pub mod repository;
pub mod settings;
pub mod state;
pub mod step_id;
pub mod steps;
pub mod templates;
pub mod text;
pub mod value;
pub mod workload;
pub mod yaml;
pub mod yaml_edit;
