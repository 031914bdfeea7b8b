// Params as compact inputs generated from a node type's JSON Schema, shared by
// the node cards (NodeCanvas.js) and the notebook's params panel.
//
// An input shows the stored value exactly (String(value), never rounded), and
// calls `onEdit(value)` only for a user's valid change; text that is not a
// number, or a number out of range, calls `onInvalid(message)` instead and
// nothing is written.
import { h } from "vue";

/** The concrete schema of one field: a $ref/allOf resolved against `defs`, a nullable anyOf's non-null branch. */
export function fieldSchema(prop0, defs = {}) {
  let prop = prop0;
  if (prop.anyOf) {
    const branch = prop.anyOf.find((b) => b.type !== "null") || {};
    prop = { ...branch, ...prop, anyOf: undefined };
  }
  if (prop.$ref || prop.allOf) {
    const ref = (prop.$ref || (prop.allOf[0] && prop.allOf[0].$ref) || "").split("/").pop();
    prop = { ...(defs[ref] || {}), ...prop };
  }
  return prop;
}

/** [name, resolved schema] of every field of a params schema ({properties, defs}). */
export function fields(schema) {
  const props = (schema && schema.properties) || {};
  return Object.entries(props).map(([name, p]) => [name, fieldSchema(p, schema.defs || schema.$defs || {})]);
}

/** Why `text` is not a value for a number field, or null; `out.value` receives the parsed number. */
export function numberProblem(prop, text, out) {
  const t = text.trim();
  const isInt = prop.type === "integer";
  if (!(isInt ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/).test(t)) {
    return isInt ? "a whole number" : "a number";
  }
  const v = Number(t);
  if (!Number.isFinite(v)) return "a finite number";
  if (prop.minimum !== undefined && v < prop.minimum) return `at least ${prop.minimum}`;
  if (prop.exclusiveMinimum !== undefined && v <= prop.exclusiveMinimum) return `more than ${prop.exclusiveMinimum}`;
  if (prop.maximum !== undefined && v > prop.maximum) return `at most ${prop.maximum}`;
  if (prop.exclusiveMaximum !== undefined && v >= prop.exclusiveMaximum) return `less than ${prop.exclusiveMaximum}`;
  out.value = v;
  return null;
}

/** One input for a param; `onEdit(value)` on a valid change, `onInvalid(message)` on text that is refused. */
export function paramInput(name, prop, value, onEdit, onInvalid = () => {}) {
  const kind = prop.type;
  const common = { "data-param": name, title: prop.description || "", class: "nodrag" };
  if (prop.enum) {
    return h("select", { ...common, value: value, onChange: (e) => onEdit(prop.enum[e.target.selectedIndex]) },
      prop.enum.map((v) => h("option", { value: v, selected: v === value }, String(v))));
  }
  if (kind === "boolean") return h("input", { ...common, type: "checkbox", checked: !!value, onChange: (e) => onEdit(e.target.checked) });
  if (kind === "number" || kind === "integer") {
    // text, not type=number: what the user typed stays visible and is refused with a reason, not silently emptied
    return h("input", {
      ...common, type: "text", inputmode: kind === "integer" ? "numeric" : "decimal",
      value: value === null || value === undefined ? "" : String(value),
      onChange: (e) => {
        const out = {};
        const problem = numberProblem(prop, e.target.value, out);
        if (problem) onInvalid(`${name}: must be ${problem}`);
        else onEdit(out.value);
      },
    });
  }
  if (kind === "string") {
    return h("input", { ...common, type: "text", value: value ?? "", onChange: (e) => onEdit(e.target.value) });
  }
  return h("input", {
    ...common, type: "text", value: JSON.stringify(value ?? null),
    onChange: (e) => {
      try { onEdit(JSON.parse(e.target.value)); } catch (_) { onInvalid(`${name}: must be JSON`); }
    },
  });
}
