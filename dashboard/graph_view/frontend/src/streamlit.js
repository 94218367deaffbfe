// The Streamlit components-v1 protocol (streamlit/frontend CustomComponent enums), written out: the component
// says it is ready, receives "streamlit:render" with the Python arguments, and sends values and its height.
// Kept to these three messages so no React wrapper or Arrow decoder is bundled.

function send(type, data) {
  window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
}

export const Streamlit = {
  ready() {
    send("streamlit:componentReady", { apiVersion: 1 });
  },
  setFrameHeight(height) {
    send("streamlit:setFrameHeight", { height });
  },
  setValue(value) {
    send("streamlit:setComponentValue", { value, dataType: "json" });
  },
  onRender(callback) {
    window.addEventListener("message", (event) => {
      if (event.data && event.data.type === "streamlit:render") callback(event.data.args || {}, event.data);
    });
  },
};
