//! Walking a model's parameters by HF key.
//!
//! A parameter's path in the module tree is its checkpoint key (`text_model.encoder.layers.0.
//! mlp.fc1.weight`), so anything that works per key — export, the trainable-parameter table,
//! freezing, WiSE-FT, precision casting, summing gradients — visits the tree through the one
//! path tracker here instead of keeping its own.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

/// Sees each float parameter with its key and the name of the struct that holds it
/// (`"LayerNorm"`, `"Linear"`, `"ClipModel"`, …).
pub trait KeyedVisitor {
    fn visit<const D: usize>(&mut self, key: &str, owner: &str, param: &Param<Tensor<D>>);
}

/// Maps each float parameter, knowing its key and owner (see [`KeyedVisitor`]).
pub trait KeyedMapper {
    fn map<const D: usize>(&mut self, key: &str, owner: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>>;
}

/// Visits every float parameter of `module` in module order.
pub fn visit<M: Module, V: KeyedVisitor>(module: &M, visitor: &mut V) {
    module.visit(&mut Tracked { path: Vec::new(), inner: visitor });
}

/// Maps every float parameter of `module` in module order.
pub fn map<M: Module, V: KeyedMapper>(module: M, mapper: &mut V) -> M {
    module.map(&mut Tracked { path: Vec::new(), inner: mapper })
}

/// The module path entered so far: `(field name, owner struct name)` per level.
struct Tracked<'a, V> {
    path: Vec<(String, String)>,
    inner: &'a mut V,
}

impl<V> Tracked<'_, V> {
    fn enter(&mut self, name: &str, container_type: &str) {
        let owner = container_type.strip_prefix("Struct:").unwrap_or(container_type);
        self.path.push((name.to_string(), owner.to_string()));
    }

    fn key_and_owner(&self) -> (String, &str) {
        let key = self.path.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(".");
        (key, self.path.last().map_or("", |(_, owner)| owner.as_str()))
    }
}

impl<V: KeyedVisitor> ModuleVisitor for Tracked<'_, V> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.enter(name, container_type);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let (key, owner) = self.key_and_owner();
        let owner = owner.to_string();
        self.inner.visit(&key, &owner, param);
    }
}

impl<V: KeyedMapper> ModuleMapper for Tracked<'_, V> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.enter(name, container_type);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (key, owner) = self.key_and_owner();
        let owner = owner.to_string();
        self.inner.map(&key, &owner, param)
    }
}

/// One parameter: its HF key, id, shape (Burn's layout) and whether it requires gradients.
#[derive(Debug, Clone)]
pub struct ParamInfo {
    pub key: String,
    pub id: ParamId,
    pub shape: Vec<usize>,
    pub trainable: bool,
}

/// Every float parameter of `module` with its HF key, in module order.
pub fn param_infos<M: Module>(module: &M) -> Vec<ParamInfo> {
    struct Collect(Vec<ParamInfo>);
    impl KeyedVisitor for Collect {
        fn visit<const D: usize>(&mut self, key: &str, _: &str, param: &Param<Tensor<D>>) {
            self.0.push(ParamInfo {
                key: key.to_string(),
                id: param.id,
                shape: param.lazy_shape().to_vec(),
                trainable: param.is_require_grad(),
            });
        }
    }
    let mut c = Collect(Vec::new());
    visit(module, &mut c);
    c.0
}
