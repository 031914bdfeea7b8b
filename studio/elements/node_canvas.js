// NiceGUI component: the studio's node canvas (vue-flow).
//
// The canvas itself lives in studio/frontend/src/NodeCanvas.js and reaches
// this page through the studio bundle ("haysay-studio"), so the notebook
// widget mounts the very same component. This wrapper only adds what is
// NiceGUI's: loading the bundle's stylesheet from NiceGUI's resource route.
import { NodeCanvas } from "haysay-studio";
import { loadResource } from "../../static/utils/resources.js";

// spread, not `extends`: Vue takes `setup` only from a component's own options
export default {
  ...NodeCanvas,
  props: { ...NodeCanvas.props, resourcePath: String },
  mounted() {
    this.$nextTick().then(() => loadResource(window.path_prefix + `${this.resourcePath}/index.css`));
  },
};
