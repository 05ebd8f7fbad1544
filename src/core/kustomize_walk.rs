//! The one walk of a kustomization and everything it includes, depth first in kustomize's order: the loader reads
//! each file as the walk reaches it, the inventory names each object as kustomize will, and both follow the same
//! entries to the same places.

use std::collections::BTreeSet;
use std::rc::Rc;

use serde_json::Value;

use crate::core::repository::{follow_entry, included_entries, Followed, Repository};

/// A kustomization as the one walking enters it: its document, and what its entries get; `None` to follow nothing
/// below it.
pub type Entered<C> = Option<(Rc<Value>, C)>;

/// The one walking: the repository as read so far, and what to do at each kustomization and each of its entries.
pub trait KustomizationVisitor {
    /// What a kustomization hands to its entries, and through them to the kustomizations they include (the
    /// inventory's names; nothing for the loader).
    type Context;
    type Error;

    /// The repository as read so far: the walk finds kustomizations and follows entries in its listing.
    fn repository(&self) -> &Repository;

    /// A directory included as a kustomization that holds none.
    fn no_kustomization(&mut self, dir: &str) -> Result<(), Self::Error>;

    /// The kustomization `file` of `dir`, reached for the first time from one whose entries got `outer`: its
    /// document, and what its own entries get; `None` to follow nothing below it.
    fn kustomization(
        &mut self,
        dir: &str,
        file: &str,
        outer: &Self::Context,
    ) -> Result<Entered<Self::Context>, Self::Error>;

    /// The kustomization `file` of `dir` once everything it includes is walked (kustomize applies its patches to
    /// what it built then). Nothing, unless the one walking needs it.
    fn leave(&mut self, _dir: &str, _file: &str, _context: &Self::Context) -> Result<(), Self::Error> {
        Ok(())
    }

    /// An entry of the kustomization `file` in `dir`, and where it leads (a kustomization it leads to is walked
    /// next, before the entries after this one).
    fn entry(
        &mut self,
        dir: &str,
        file: &str,
        entry: &str,
        followed: &Followed,
        context: &Self::Context,
    ) -> Result<(), Self::Error>;
}

/// What the walk has still to follow. It keeps them on a stack of its own rather than recursing: a chain of 10,000
/// nested kustomizations (kustomize builds it) must not overflow the call stack.
enum Visit<C> {
    Kustomization { dir: String, outer: Rc<C> },
    Entry { dir: Rc<str>, file: Rc<str>, entry: String, context: Rc<C> },
    Leave { dir: Rc<str>, file: Rc<str>, context: Rc<C> },
}

/// Walks the kustomization of `root` and everything it includes, as kustomize does; what is within `output` or one
/// of the `excluded` directories is skipped. Returns the kustomization files walked.
pub fn walk<V: KustomizationVisitor>(
    visitor: &mut V,
    root: &str,
    output: &str,
    excluded: &[&str],
    context: V::Context,
) -> Result<BTreeSet<String>, V::Error> {
    let mut visited = BTreeSet::new();
    let mut pending = vec![Visit::Kustomization { dir: root.to_owned(), outer: Rc::new(context) }];
    while let Some(visit) = pending.pop() {
        match visit {
            Visit::Kustomization { dir, outer } => {
                let Some(file) = visitor.repository().kustomization_in(&dir) else {
                    visitor.no_kustomization(&dir)?;
                    continue;
                };
                if !visited.insert(file.clone()) {
                    continue;
                }
                let Some((document, context)) = visitor.kustomization(&dir, &file, &outer)? else { continue };
                let (dir, file, context): (Rc<str>, Rc<str>, _) = (dir.into(), file.into(), Rc::new(context));
                pending.push(Visit::Leave {
                    dir: Rc::clone(&dir),
                    file: Rc::clone(&file),
                    context: Rc::clone(&context),
                });
                let first_on_top: Vec<Visit<V::Context>> = included_entries(&document)
                    .map(|entry| Visit::Entry {
                        dir: Rc::clone(&dir),
                        file: Rc::clone(&file),
                        entry: entry.to_owned(),
                        context: Rc::clone(&context),
                    })
                    .collect();
                pending.extend(first_on_top.into_iter().rev());
            }
            Visit::Leave { dir, file, context } => visitor.leave(&dir, &file, &context)?,
            Visit::Entry { dir, file, entry, context } => {
                let followed = follow_entry(visitor.repository(), &dir, &entry, output, excluded);
                visitor.entry(&dir, &file, &entry, &followed, &context)?;
                if let Followed::Kustomization(target) = followed {
                    pending.push(Visit::Kustomization { dir: target, outer: context });
                }
            }
        }
    }
    Ok(visited)
}
