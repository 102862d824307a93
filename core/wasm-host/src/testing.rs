//! Components for tests, built in memory (feature `test-support`): a component that imports
//! exactly the interfaces a test names, optionally carrying a large core module so that a
//! compile would be slow and a check that runs first shows it did not compile.

use wasm_encoder::{
    CodeSection, Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection,
    Function, FunctionSection, InstanceType, Instruction, Module, ModuleSection, TypeSection,
};

/// A component importing each of `imports` as an (empty) instance, and embedding a core
/// module of `functions` functions (0: none).
pub fn component_importing(imports: &[&str], functions: u32) -> Vec<u8> {
    let mut component = Component::new();
    let mut types = ComponentTypeSection::new();
    types.instance(&InstanceType::new());
    component.section(&types);
    let mut section = ComponentImportSection::new();
    for name in imports {
        section.import(*name, ComponentTypeRef::Instance(0));
    }
    component.section(&section);
    if functions > 0 {
        component.section(&ModuleSection(&core_module(functions)));
    }
    component.finish()
}

/// A core module of `functions` small functions, each a little arithmetic.
fn core_module(functions: u32) -> Module {
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types
        .ty()
        .function([wasm_encoder::ValType::I32], [wasm_encoder::ValType::I32]);
    module.section(&types);
    let mut funcs = FunctionSection::new();
    for _ in 0..functions {
        funcs.function(0);
    }
    module.section(&funcs);
    let mut code = CodeSection::new();
    for i in 0..functions {
        let mut f = Function::new([]);
        for k in 0..20 {
            f.instruction(&Instruction::LocalGet(0));
            f.instruction(&Instruction::I32Const((i as i32).wrapping_add(k)));
            f.instruction(&Instruction::I32Mul);
            f.instruction(&Instruction::LocalSet(0));
        }
        f.instruction(&Instruction::LocalGet(0));
        f.instruction(&Instruction::End);
        code.function(&f);
    }
    module.section(&code);
    module
}
