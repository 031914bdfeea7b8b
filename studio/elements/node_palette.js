// NiceGUI component: the node palette (studio/frontend/src/NodePalette.js, the
// notebook widget mounts the same one). Its stylesheet comes with the canvas's.
import { NodePalette } from "haysay-studio";

export default { ...NodePalette };
